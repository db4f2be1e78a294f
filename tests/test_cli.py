import subprocess
import sys

import pytest

from asr_kd.cli import main
from asr_kd.edge.cli import main as edge_main

SUBCOMMANDS = ["bench", "export", "make-lm", "peer", "plot", "compute-feats", "compute-cmvn", "make-units", "train", "decode", "transcribe", "results",
               "validate-data", "fix-data", "split-long", "dump-teacher", "pseudo-label", "combine-data", "spikes",
               "average", "augment-data", "merge-feats", "merge-teacher-cache", "merge-decode"]


EDGE_SUBCOMMANDS = ["transcribe", "decode", "bench"]


@pytest.mark.parametrize("prog, run, sub", [("asr-kd", main, s) for s in SUBCOMMANDS]
                         + [("asr-kd-edge", edge_main, s) for s in EDGE_SUBCOMMANDS])
def test_every_subcommand_has_help(prog, run, sub, capsys):
    with pytest.raises(SystemExit) as e:
        run([sub, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith(f"usage: {prog} {sub}")
    assert not out.split("\n\n", 1)[1].startswith(("options:", "positional arguments:")), "no one-line summary above the arguments"


def test_prepare_synth_help_is_the_preparer_help():
    out = subprocess.run([sys.executable, "-m", "asr_kd.cli", "prepare-synth", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "--hours" in out.stdout


def test_bad_input_is_one_line_error(tmp_path, capsys):
    assert main(["compute-cmvn", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("asr-kd compute-cmvn: error:") and "compute-feats" in err and "\n" not in err
    (tmp_path / "c.yaml").write_text("model: rnn_ctc\ntrain_conf: {epoks: 1}\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--train", "x", "--units", "u",
                 "--cmvn", "c", "--exp", str(tmp_path / "e")]) == 1
    assert "epoks" in capsys.readouterr().err


def test_unknown_argument_rejected():
    with pytest.raises(SystemExit) as e:
        main(["results", "--exp", "a", "--bogus"])
    assert e.value.code == 2
