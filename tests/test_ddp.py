"""Data-parallel training on CPU (gloo): processes started with the variables torchrun sets
(MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE/LOCAL_RANK) running `python -m asr_kd train`, compared with
one process that accumulates the same global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_teacher_cache import TEACHER
from test_train import TINY_STUDENT, _conf, prepared  # noqa: F401  (prepared is a fixture)

from asr_kd import checkpoint
from asr_kd.config import ExperimentConfig, FeatureConfig
from asr_kd.data.dataset import LengthBucketSampler
from asr_kd.data.tokens import Units
from asr_kd.models import build_model
from asr_kd.teacher_cache import dump_teacher
from asr_kd.train import FINAL, STATE, train

REPO = Path(__file__).resolve().parents[1]
# the optimizer's step raises KeyboardInterrupt at call CRASH_AT (a crash), then `python -m asr_kd` as usual
LAUNCHER = """
import os, runpy, sys, torch
crash_at, real, calls = int(os.environ.get("CRASH_AT", 0)), torch.optim.AdamW.step, [0]
def step(self, *a, **k):
    calls[0] += 1
    if calls[0] == crash_at:
        raise KeyboardInterrupt
    return real(self, *a, **k)
torch.optim.AdamW.step = step
sys.argv = ["asr_kd", *sys.argv[1:]]
runpy.run_module("asr_kd", run_name="__main__")
"""


def _exact(**train_conf) -> ExperimentConfig:
    """The tiny student with nothing random in a step (no dropout, SpecAugment or silence padding),
    so that the ways of taking one global batch can be compared weight for weight."""
    d = _conf(model_conf={**TINY_STUDENT, "dropout": 0.0}, **train_conf).to_dict()
    d["specaug_conf"]["enabled"] = False
    return ExperimentConfig.from_dict(d)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(conf: ExperimentConfig, d: Path, exp: Path, world_size: int, *extra: str, crash_at: int = 0,
            exit_code: int = 0) -> None:
    """`python -m asr_kd train` in `world_size` processes as torchrun starts them; each must end with `exit_code`."""
    exp.parent.mkdir(parents=True, exist_ok=True)
    (exp.parent / "conf.yaml").write_text(yaml.safe_dump(conf.to_dict()))
    argv = ["train", "--config", str(exp.parent / "conf.yaml"), "--train", str(d), "--units", str(d / "units.txt"),
            "--cmvn", str(d / "cmvn.json"), "--exp", str(exp), "--device", "cpu", *extra]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(world_size),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1",
           "CRASH_AT": str(crash_at)}
    procs = [subprocess.Popen([sys.executable, "-c", LAUNCHER, *argv], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in range(world_size)]
    try:
        errs = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [exit_code] * world_size, "\n".join(e[-3000:] for e in errs)


def _weights(path: Path) -> dict:
    return checkpoint.load(path)["state_dict"]


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5, msg=k)


def test_sampler_gives_ranks_disjoint_whole_batches_covering_the_epoch():
    lengths = [50 + 7 * (i % 9) for i in range(40)]
    one = LengthBucketSampler(lengths, 150, seed=3)
    for epoch in (0, 1):
        one.set_epoch(epoch)
        order = list(one)
        for w in (2, 3, 4):
            shards = []
            for r in range(w):
                s = LengthBucketSampler(lengths, 150, seed=3, num_replicas=w, rank=r)
                s.set_epoch(epoch)
                shards.append(list(s))
                assert len(s) == len(shards[-1]) == -(-len(order) // w)  # equal counts: ceil(N / W)
            # rank r takes batches r, r + W, ...: the one-process order, interleaved
            interleaved = [b for i in range(len(shards[0])) for b in (sh[i] for sh in shards)]
            assert interleaved[: len(order)] == order
            pad = interleaved[len(order) :]  # the first batches again, up to a multiple of W
            assert pad == order[: len(pad)] and len(pad) < w
            if len(order) % w == 0:
                flat = [i for sh in shards for b in sh for i in b]
                assert len(flat) == len(set(flat)) == len(lengths)  # disjoint, and every utterance once
    one.set_epoch(1, start=5)  # a resume 5 batches into the epoch, on 2 ranks
    rest = [LengthBucketSampler(lengths, 150, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for s in rest:
        s.set_epoch(1, start=5)
    assert [b for pair in zip(*rest) for b in pair][: len(order) - 5] == list(one) == order[5:]
    with pytest.raises(ValueError, match="outside"):
        LengthBucketSampler(lengths, 150, num_replicas=2, rank=2)


def test_two_ranks_equal_one_rank_accumulating_two_batches(prepared, tmp_path):  # noqa: F811
    d = prepared
    _launch(_exact(), d, tmp_path / "two" / "exp", 2, "--dev", str(d))
    one = train(_exact(accum_grad=2), tmp_path / "one", d, d / "units.txt", d / "cmvn.json", dev_dir=d)
    exp = tmp_path / "two" / "exp"
    _assert_close(_weights(exp / FINAL), _weights(one))
    a, b = (json.loads((e / "train_summary.json").read_text()) for e in (exp, tmp_path / "one"))
    assert a["steps"] == b["steps"] == 4 and (a["world_size"], a["accum_grad"]) == (2, 1)
    # rank 0 alone writes: one of each file, every record once, no file or log line of rank 1
    assert sorted(str(p.relative_to(exp)) for p in exp.rglob("*")) == [
        ".lock", "epoch_1.pt", "epoch_2.pt", "final.pt", "last_state.pt", "log", "log/metrics.jsonl",
        "log/train.log", "train.yaml", "train_summary.json"]
    recs = [json.loads(line) for line in (exp / "log" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "loss" in r] == [1, 2, 3, 4] and len([r for r in recs if "dev_cer" in r]) == 2
    log = (exp / "log" / "train.log").read_text()
    assert log.count("done:") == 1 and "rank 1" not in log and "2 rank(s) x accum_grad 1" in log
    state = torch.load(exp / STATE, weights_only=True)
    assert state["world_size"] == 2 and len(state["rngs"]) == 2
    assert not any(k.startswith("module.") for k in state["model"]["state_dict"])


def test_resume_across_world_sizes(prepared, tmp_path):  # noqa: F811
    d, args = prepared, (prepared, prepared / "units.txt", prepared / "cmvn.json")
    reference = _weights(train(_exact(checkpoint_interval=1, accum_grad=2), tmp_path / "ref", *args))
    exp = tmp_path / "b" / "exp"  # 2 ranks, stopped mid-epoch, finished on 1 rank
    _launch(_exact(checkpoint_interval=1), d, exp, 2, crash_at=2, exit_code=130)  # both stop in step 2, as on Ctrl-C
    assert not (exp / FINAL).exists()
    state = torch.load(exp / STATE, weights_only=True)
    assert (state["step"], state["epoch"], state["batch"]) == (1, 0, 2)  # 2 global batches into epoch 0
    train(_exact(checkpoint_interval=1, accum_grad=2), exp, *args, resume=True)
    assert "resumed from" in (exp / "log" / "train.log").read_text()
    assert json.loads((exp / "train_summary.json").read_text())["steps"] == 4
    _assert_close(_weights(exp / FINAL), reference)
    exp = tmp_path / "c" / "exp"  # 1 rank for an epoch, finished on 2 ranks
    train(_exact(epochs=1, accum_grad=2), exp, *args)
    _launch(_exact(), d, exp, 2, "--resume")
    assert json.loads((exp / "train_summary.json").read_text())["steps"] == 4
    _assert_close(_weights(exp / FINAL), reference)


def test_kd_from_the_teacher_cache_under_two_ranks(prepared, data_dir_factory, tmp_path):  # noqa: F811
    from test_teacher_cache import _unlab_dir

    d = prepared
    torch.manual_seed(0)
    units = Units.read(d / "units.txt")
    teacher = build_model("conformer_ctc", TEACHER, 80, len(units)).eval()
    ckpt = tmp_path / "teacher.pt"
    checkpoint.save(checkpoint.model_checkpoint(teacher, "conformer_ctc", TEACHER, units, FeatureConfig()), ckpt)
    unlab = _unlab_dir(data_dir_factory, tmp_path)
    dump_teacher(ckpt, [d, unlab], tmp_path / "cache", top_k=4)
    kd = _exact(max_frames_per_batch=250).to_dict() | {"kd_conf": {"weight": 0.5, "temperature": 2.0}}
    extra = ("--teacher-cache", str(tmp_path / "cache"), "--unlab", str(unlab))
    _launch(ExperimentConfig.from_dict(kd), d, tmp_path / "two" / "exp", 2, *extra)
    one = ExperimentConfig.from_dict({**kd, "train_conf": {**kd["train_conf"], "accum_grad": 2}})
    reference = train(one, tmp_path / "one", d, d / "units.txt", d / "cmvn.json", teacher_cache=tmp_path / "cache",
                      unlab_dir=unlab)
    exp = tmp_path / "two" / "exp"
    _assert_close(_weights(exp / FINAL), _weights(reference))
    recs = [json.loads(line) for line in (exp / "log" / "metrics.jsonl").read_text().splitlines()]
    assert recs and all("kd" in r for r in recs) and any(0 < r["labelled"] < 1 for r in recs)


def test_a_locked_exp_dir_stops_every_rank(prepared, tmp_path):  # noqa: F811
    from test_exp_safety import _hold_lock

    exp = tmp_path / "x" / "exp"
    holder = _hold_lock(exp)
    try:
        _launch(_exact(epochs=1), prepared, exp, 2, exit_code=1)  # both end with the error, neither waits
    finally:
        holder.kill()
        holder.wait()
    assert not (exp / "train.yaml").exists()
