"""egs/utils: job arrays of run_local.sh (Kaldi's run.pl JOB=1:N) and slurm.sh; torchrun.sh's command lines."""

import os
import subprocess
from pathlib import Path

UTILS = Path(__file__).resolve().parents[1] / "egs" / "utils"


def _sh(*args, env=None):
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_run_local_job_array(tmp_path):
    run = str(UTILS / "run_local.sh")
    out = _sh(run, "JOB=1:3", f"{tmp_path}/log/x.JOB.log", "sh", "-c", f"echo job JOB > {tmp_path}/out.JOB")
    assert out.returncode == 0, out.stderr
    for i in (1, 2, 3):
        assert (tmp_path / f"out.{i}").read_text() == f"job {i}\n"
        assert f"# sh -c echo job {i} > " in (tmp_path / "log" / f"x.{i}.log").read_text()
        assert "# ended (rc=0" in (tmp_path / "log" / f"x.{i}.log").read_text()
    out = _sh(run, "N=1:3", f"{tmp_path}/log/y.N.log", "sh", "-c", "[ N -ne 2 ]")
    assert out.returncode == 1 and "1 of 3 jobs failed" in out.stderr
    assert "# ended (rc=1" in (tmp_path / "log" / "y.2.log").read_text()
    assert "# ended (rc=0" in (tmp_path / "log" / "y.3.log").read_text()
    out = _sh(run, "JOB=1:2", f"{tmp_path}/log/one.log", "true")
    assert out.returncode == 1 and "must contain JOB" in out.stderr
    # utils/slurm.sh: one srun per job, with $SLURM_OPTS and its own leading options (a stand-in srun).
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text(
        '#!/bin/sh\necho "srun $*" >> "$SRUN_LOG"\nwhile [ "${1#-}" != "$1" ]; do shift; done\nexec "$@"\n')
    (tmp_path / "bin" / "srun").chmod(0o755)
    env = {"PATH": f"{tmp_path}/bin:{os.environ['PATH']}", "SRUN_LOG": str(tmp_path / "srun.log"),
           "SLURM_OPTS": "--time=1:00:00"}
    out = _sh(str(UTILS / "slurm.sh"), "--cpus-per-task=2", "JOB=1:2", f"{tmp_path}/log/s.JOB.log", "sh", "-c",
              "echo JOB", env=env)
    assert out.returncode == 0, out.stderr
    assert sorted((tmp_path / "srun.log").read_text().splitlines()) == [
        f"srun --time=1:00:00 --cpus-per-task=2 sh -c echo {i}" for i in (1, 2)]
    assert (tmp_path / "log" / "s.2.log").read_text().splitlines()[2] == "2"


def test_torchrun_wrapper_takes_the_rendezvous_from_slurm(tmp_path):
    (tmp_path / "torchrun").write_text('#!/bin/sh\necho "$@"\n')
    (tmp_path / "scontrol").write_text('#!/bin/sh\nprintf "gpu07\\ngpu08\\n"\n')  # scontrol show hostnames
    for f in ("torchrun", "scontrol"):
        (tmp_path / f).chmod(0o755)
    path = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    local = _sh(str(UTILS / "torchrun.sh"), "2", "-m", "asr_kd", "train", env=path)
    assert local.stdout.split() == ["--standalone", "--nproc-per-node=2", "-m", "asr_kd", "train"]
    slurm = _sh(str(UTILS / "torchrun.sh"), "4", "-m", "asr_kd", "train", env={
        **path, "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_STEP_NUM_NODES": "2", "SLURM_JOB_ID": "42",
        "SLURM_STEP_ID": "0"})
    assert slurm.stdout.split() == ["--nnodes=2", "--nproc-per-node=4", "--rdzv-backend=c10d",
                                    "--rdzv-endpoint=gpu07:29500", "--rdzv-id=42.0", "-m", "asr_kd", "train"]
