"""Tiny end-to-end run of egs/synth/s0/run.sh: synthesis -> features -> teacher -> students -> decode -> table."""

import json
import os
import subprocess
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "synth" / "s0"
TINY = Path(__file__).resolve().parent / "fixtures" / "conf_tiny"


def _run(tmp_path, *args):
    return subprocess.run(
        ["./run.sh", "--hours", "0.01", "--eval-utts", "1", "--conf", str(TINY),
         "--data", str(tmp_path / "data"), "--exp", str(tmp_path / "exp"), "--device", "cpu", *args],
        cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )


def test_recipe_end_to_end(tmp_path):
    out = _run(tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    data, exp = tmp_path / "data", tmp_path / "exp"
    train_spk = set((data / "train" / "spk2utt").read_text().split()[::2])
    test_spk = {line.split()[0] for line in (data / "test" / "spk2utt").read_text().splitlines()}
    assert test_spk and not train_spk & test_spk
    table = (exp / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| teacher") or line.startswith("| student")]
    assert [r.split("|")[1].strip() for r in rows[:3]] == ["teacher", "student_ctc", "student_kd"]
    for name in ("teacher", "student_ctc", "student_kd"):
        result = json.loads((exp / name / "decode_test" / "result.json").read_text())
        assert result["utts"] == len(test_spk) and 0 <= result["cer"]
        assert json.loads((exp / name / "decode_test" / "rtf.json").read_text())["threads"] == 1
        hyp_keys = [line.split()[0] for line in (exp / name / "decode_test" / "text").read_text().splitlines()]
        assert hyp_keys == sorted(hyp_keys) and len(hyp_keys) == len(test_spk)
    assert "--teacher-cache" in (exp / "student_kd" / "log" / "run.log").read_text()
    assert (exp / "teacher" / "cache_train" / "meta.json").exists()
    # Stages are idempotent: a rerun skips everything and prints the same table.
    again = _run(tmp_path)
    assert again.returncode == 0 and "skipping" in again.stdout
    assert (exp / "results.md").read_text() == table
