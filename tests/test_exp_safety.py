"""An experiment dir is trained by one process at a time, resumes only the run it records, and
keeps no debris from a killed run."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml
from test_train import TINY_STUDENT, _conf, _run, prepared  # noqa: F401  (prepared is a fixture)

from asr_kd.cli import main
from asr_kd.config import ConfigError
from asr_kd.explock import ExpLock, ExpLockedError


def _hold_lock(exp):
    """A second real process that takes the exp dir's lock and waits."""
    code = textwrap.dedent(f"""
        import sys, time
        from asr_kd.explock import ExpLock
        with ExpLock({str(exp)!r}):
            print("locked", flush=True)
            time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_training_on_a_locked_exp_dir_stops_naming_the_holder(prepared, tmp_path, capsys):  # noqa: F811
    exp = tmp_path / "exp"
    holder = _hold_lock(exp)
    try:
        argv = ["train", "--config", str(tmp_path / "c.yaml"), "--train", str(prepared), "--units",
                str(prepared / "units.txt"), "--cmvn", str(prepared / "cmvn.json"), "--exp", str(exp)]
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(_conf(epochs=1).to_dict()))
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"asr-kd train: error: {exp}: in use by pid {holder.pid} ")
        assert not (exp / "train.yaml").exists() and not (exp / "final.pt").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert str(holder.pid) in (exp / ".lock").read_text()  # a dead holder's lock file stays behind ...
    assert main(argv) == 0  # ... and is taken over
    assert (exp / "final.pt").exists()
    with ExpLock(exp), pytest.raises(ExpLockedError, match=f"pid {os.getpid()}"):
        ExpLock(exp).__enter__()


def test_resume_refuses_a_changed_config_and_applies_a_longer_run(prepared, tmp_path):  # noqa: F811
    exp = tmp_path / "exp"
    _run(_conf(epochs=1), prepared, exp)
    recorded = (exp / "train.yaml").read_text()
    with pytest.raises(ConfigError, match=r"train_conf.lr \(0.001 -> 0.1\)") as e:
        _run(_conf(epochs=1, lr=0.1), prepared, exp, resume=True)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"model_conf.hidden_size \(16 -> 8\)"):
        _run(_conf(epochs=1, model_conf={**TINY_STUDENT, "hidden_size": 8}), prepared, exp, resume=True)
    assert (exp / "train.yaml").read_text() == recorded
    stale = exp / ".last_state.pt.x1y2.tmp"
    stale.write_bytes(b"half a checkpoint")
    _run(_conf(epochs=2), prepared, exp, resume=True)
    assert yaml.safe_load((exp / "train.yaml").read_text())["train_conf"]["epochs"] == 2
    assert "resumed from" in (exp / "log" / "train.log").read_text()
    assert not stale.exists()
