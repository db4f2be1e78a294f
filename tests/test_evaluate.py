import json

import pytest
from conftest import make_recording_dir

from asr_kd import checkpoint
from asr_kd.config import FeatureConfig
from asr_kd.data.tokens import Units
from asr_kd.evaluate import decode_data_dir
from asr_kd.framing import ChunkConfig
from asr_kd.models import build_model


def _checkpoint(path):
    units = Units.build(["AB "])
    conf = {"hidden_size": 8, "num_layers": 1, "subsampling_channels": 8}
    model = build_model("rnn_ctc", conf, 80, len(units))
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), path)
    return path


def _long_form_dir(root):
    return make_recording_dir(root, "spk-long00", [("spk-long00-0000", 0.0, 2.0, "A B"), ("spk-long00-0001", 2.5, 4.5, "B A")])


def test_decode_segments_and_whole_recordings(tmp_path):
    ckpt = _checkpoint(tmp_path / "m.pt")
    data = _long_form_dir(tmp_path / "test_long")
    segs = decode_data_dir(ckpt, data, tmp_path / "seg")
    assert segs["utts"] == 2 and segs["words"]["ref"] == 4
    whole = decode_data_dir(ckpt, data, tmp_path / "whole", whole_recordings=True, chunk=ChunkConfig(chunk=20))
    assert whole["utts"] == 1 and whole["words"]["ref"] == 4
    rtf = json.loads((tmp_path / "whole" / "rtf.json").read_text())
    assert rtf["whole_recordings"] and rtf["peak_rss_mb"] > 0 and rtf["chunking"]["chunk"] == 20
    assert rtf["audio_seconds"] == 5.0 and segs["rtf"]["audio_seconds"] == 4.0
    hyp_ids = [line.split()[0] for line in (tmp_path / "whole" / "text").read_text().splitlines()]
    assert hyp_ids == ["spk-long00"]


def test_bench_writes_a_row_per_valid_setting(tmp_path):
    from asr_kd.bench import bench

    ckpt = _checkpoint(tmp_path / "m.pt")
    data = _long_form_dir(tmp_path / "test_long")
    rows = bench([ckpt], data, tmp_path / "bench", devices=["cpu"], threads=[1], batch_sizes=[1, 2],
                 precisions=["fp32", "int8", "bf16"], repeats=2, pin_core=0)
    assert [(r["precision"], r["batch_size"]) for r in rows] == [("fp32", 1), ("fp32", 2), ("int8", 1), ("int8", 2)]
    for r in rows:  # bf16 is GPU-only: skipped on cpu
        assert r["rtf_total"] == pytest.approx(r["rtf_features"] + r["rtf_model"] + r["rtf_decoding"])
        assert r["rtf_model"] > 0 and r["threads"] == 1
    saved = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert saved["env"]["pinned_core"] == 0 and len(saved["rows"]) == 4
    assert (tmp_path / "bench" / "bench.md").read_text().count("| cpu |") == 4
