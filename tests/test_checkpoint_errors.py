"""Bad checkpoint and exported-model files give one line naming the file, never a traceback; a full
disk while saving is one OSError line and leaves no temp file."""

import builtins
import errno
import os
import pickle
import re
import shutil

import pytest
import torch

from asr_kd import Recognizer, checkpoint, fileio
from asr_kd.checkpoint import CheckpointError
from asr_kd.cli import main
from asr_kd.config import FeatureConfig
from asr_kd.data.tokens import Units
from asr_kd.export import export, load_exported
from asr_kd.models import build_model

CONF = {"rnn_type": "lstm", "hidden_size": 24, "num_layers": 2, "subsampling_channels": 16}


class Evil:
    def __reduce__(self):
        return os.system, ("touch PWNED",)


def _model_ckpt(units: Units | None = None, conf: dict | None = None) -> dict:
    """A checkpoint with weights for the 8 units of "ABCDE " (<blank> <unk> <space> A-E), whatever `units` says."""
    model = build_model("rnn_ctc", CONF, 80, 8)
    return checkpoint.model_checkpoint(model, "rnn_ctc", conf or CONF, units or Units.build(["ABCDE "]),
                                       FeatureConfig())


def _state() -> dict:
    """What train.py writes as last_state.pt."""
    optimizer = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())
    return {"model": _model_ckpt(), "optimizer": optimizer.state_dict(),
            "scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0).state_dict(),
            "step": 2, "epoch": 0, "batch": 2, "elapsed": 1.5, "rng": torch.get_rng_state()}


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "final.pt"
    checkpoint.save(_model_ckpt(), path)
    return path


def _half(path, out):
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])


BAD = {  # name -> (write the file at `path` given the good checkpoint, what the message must say)
    "malicious_zip": (lambda path, good: torch.save({"x": Evil()}, path),
                      r"refused: the file contains pickled code or objects \(GLOBAL \w+\.system\), not only tensors"),
    "malicious_legacy": (lambda path, good: torch.save({"x": Evil()}, path, _use_new_zipfile_serialization=False),
                         r"refused: .*\(GLOBAL \w+\.system\)"),
    "malicious_pickle": (lambda path, good: path.write_bytes(pickle.dumps(Evil(), protocol=4)),
                         "refused: the file contains pickled code or objects"),
    "directory": (lambda path, good: path.mkdir(), r"cannot read \(Is a directory\)"),
    "empty": (lambda path, good: path.write_bytes(b""), r"empty file \(0 bytes\), not a checkpoint"),
    "truncated": (lambda path, good: _half(good, path), r"truncated or corrupt checkpoint \(.+\)"),
    "wav": (lambda path, good: path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)),
            "not a PyTorch checkpoint"),
    "text": (lambda path, good: path.write_text("utt1 HELLO WORLD\n"), "not a PyTorch checkpoint"),
    "state": (lambda path, good: torch.save(_state(), path),
              r"a training state \(last_state.pt\), not a model checkpoint; use final.pt from the same experiment dir"),
    "foreign_dict": (lambda path, good: torch.save({"weights": torch.zeros(3)}, path),
                     r"not an asr-kd model checkpoint \(missing keys \['format', 'model', "),
    "tensor": (lambda path, good: torch.save(torch.zeros(3), path), "not an asr-kd model checkpoint"),
    "bad_settings": (lambda path, good: torch.save(_model_ckpt(conf={**CONF, "hiden_size": 3}), path),
                     r"bad model settings \(.*hiden_size"),
    "wrong_weights": (lambda path, good: torch.save(_model_ckpt(units=Units.build(["ABCDEFGH "])), path),
                      r"weights do not fit the rnn_ctc model it describes \(.*size mismatch for head"),
}


def _one_line_everywhere(path, wav, capsys) -> str:
    """The CLI prints one `error: PATH: ...` line with rc 1 and the API raises the same CheckpointError."""
    assert main(["transcribe", "--checkpoint", str(path), str(wav)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"asr-kd transcribe: error: {path}: "), captured.err
    with pytest.raises(CheckpointError) as e:
        Recognizer.from_checkpoint(path)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{path}: ")
    assert "weights_only" not in str(e.value)
    assert lines[0] == f"asr-kd transcribe: error: {e.value}"
    return str(e.value)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_checkpoint_is_one_line(case, good, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where `touch PWNED` would land
    write, expected = BAD[case]
    path = tmp_path / ("last_state.pt" if case == "state" else f"{case}.pt")
    write(path, good)
    message = _one_line_everywhere(path, data_dir / "wav" / "spka-001.wav", capsys)
    assert re.search(expected, message), message
    assert not (tmp_path / "PWNED").exists()


def test_missing_checkpoint_is_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        checkpoint.load(tmp_path / "nope.pt")


def test_load_state_checks_what_resume_reads(tmp_path, good):
    torch.save(_state(), tmp_path / "last_state.pt")
    assert checkpoint.load_state(tmp_path / "last_state.pt")["step"] == 2
    with pytest.raises(CheckpointError, match=r"final.pt: a model checkpoint, not a training state"):
        checkpoint.load_state(good)
    state = _state()
    del state["rng"]
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=r"old.pt: not an asr-kd training state \(missing keys \['rng'\]\)"):
        checkpoint.load_state(tmp_path / "old.pt")
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt: refused"):
        checkpoint.load_state(tmp_path / "evil.pt")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("exported")
    checkpoint.save(_model_ckpt(), d / "m.pt")
    return {".onnx": export(d / "m.pt", d / "m.onnx", "onnx"), ".ts": export(d / "m.pt", d / "m.ts", "torchscript")}


BAD_EXPORTED = {"empty": r"empty file \(0 bytes\), not an exported model",
                "truncated": r"truncated or corrupt exported model \(.+\)",
                "text": r"truncated or corrupt exported model \(.+\)"}


@pytest.mark.parametrize("suffix", [".onnx", ".ts"])
@pytest.mark.parametrize("case", sorted(BAD_EXPORTED))
def test_bad_exported_model_is_one_line(exported, suffix, case, data_dir, tmp_path, capsys):
    expected = BAD_EXPORTED[case]
    path = tmp_path / f"{case}{suffix}"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        _half(exported[suffix], path)
    else:
        path.write_text("hello\n")
    message = _one_line_everywhere(path, data_dir / "wav" / "spka-001.wav", capsys)
    assert re.search(expected, message), message
    with pytest.raises(CheckpointError, match=expected):
        load_exported(path)


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (always full)")


@needs_dev_full
@pytest.mark.parametrize("save", [lambda p: fileio.torch_save({"a": torch.zeros(10000)}, p),
                                  lambda p: fileio.write_text(p, "x" * 100000)], ids=["torch_save", "write_text"])
def test_disk_full_is_one_line_and_leaves_no_temp_file(save, tmp_path, monkeypatch):
    target = tmp_path / "out" / "final.pt"
    target.parent.mkdir()
    target.write_text("old")
    monkeypatch.setattr(fileio, "open", lambda path, *args, **kw: builtins.open("/dev/full", *args, **kw),
                        raising=False)  # every write lands on a device that is always full
    with pytest.raises(OSError) as e:
        save(target)
    assert e.value.errno == errno.ENOSPC and str(e.value) == f"disk full writing {target}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["final.pt"] and target.read_text() == "old"


@needs_dev_full
def test_torch_writer_failure_on_full_disk_is_disk_full(tmp_path, monkeypatch):
    """torch's C++ writer (torch.save/jit.save to a path) reports a short write, not ENOSPC."""
    target = tmp_path / "m.ts"

    def write_fails():
        with fileio.atomic_path(target):
            torch.save({"a": torch.zeros(10000)}, "/dev/full")

    with pytest.raises(RuntimeError):  # a disk with room: torch's own error, unchanged
        write_fails()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 ** 9, 10 ** 9, 0))
    with pytest.raises(OSError) as e:
        write_fails()
    assert e.value.errno == errno.ENOSPC and str(e.value) == f"disk full writing {target}"
    assert not list(tmp_path.iterdir())
