"""`asr-kd average`: the mean of a run's epoch checkpoints, picked as the last N or best N by dev loss or CER."""

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


def test_best_epochs_by_dev_cer(tmp_path, capsys):
    """--by dev_cer ranks by CER, not loss: here the loss prefers epochs 1-2, the CER 3-4."""
    (tmp_path / "log").mkdir()
    for e in range(1, 5):
        (tmp_path / f"epoch_{e}.pt").touch()
    recs = [{"epoch": e, "dev_loss": 0.1 * e, "dev_cer": 0.5 - 0.1 * e} for e in range(1, 5)]
    (tmp_path / "log" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert pick_epochs(tmp_path, best=2) == [1, 2]
    assert pick_epochs(tmp_path, best=2, by="dev_cer") == [3, 4]
    with pytest.raises(ValueError, match="--by wer"):
        pick_epochs(tmp_path, best=2, by="wer")
    with pytest.raises(SystemExit):
        main(["average", "--exp", str(tmp_path), "--best", "2", "--by", "cer", "--out", str(tmp_path / "a.pt")])
    assert "invalid choice: 'cer'" in capsys.readouterr().err
