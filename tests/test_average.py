"""`asr-kd average`: the mean of a run's epoch checkpoints, picked as the last N or best N by dev loss."""

import json

import pytest
import torch
from test_train import _conf, _run, prepared  # noqa: F401  (prepared is a fixture)

from asr_kd import checkpoint
from asr_kd.average import pick_epochs
from asr_kd.cli import main


def test_average_of_two_epochs_is_the_mean_of_their_weights(prepared, tmp_path, capsys):  # noqa: F811
    exp = tmp_path / "exp"
    _run(_conf(epochs=3, lr=0.01), prepared, exp)
    assert main(["average", "--exp", str(exp), "--last", "2", "--out", str(exp / "avg.pt")]) == 0
    assert "average of epochs 2 3" in capsys.readouterr().out
    a, b = (checkpoint.load(exp / f"epoch_{e}.pt")["state_dict"] for e in (2, 3))
    avg = checkpoint.load(exp / "avg.pt")["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a)
    for k in a:
        torch.testing.assert_close(avg[k], (a[k] + b[k]) / 2 if a[k].is_floating_point() else b[k])
    checkpoint.load_model(exp / "avg.pt")  # a checkpoint like any other


def test_best_epochs_by_dev_loss(prepared, tmp_path, capsys):  # noqa: F811
    exp = tmp_path / "exp"
    _run(_conf(epochs=3, lr=0.01), prepared, exp)
    losses = {r["epoch"]: r["dev_loss"] for r in map(json.loads, (exp / "log" / "metrics.jsonl").read_text().splitlines())
              if "dev_loss" in r}
    assert pick_epochs(exp, best=2) == sorted(sorted(losses, key=losses.get)[:2])
    assert main(["average", "--exp", str(exp), "--out", str(exp / "avg.pt")]) == 1
    assert "one of --last N or --best N" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no epoch_"):
        pick_epochs(tmp_path, last=2)
