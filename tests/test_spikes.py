import json

import pytest
import torch

from asr_kd import checkpoint
from asr_kd.config import FeatureConfig
from asr_kd.data.kaldi_dir import read_table
from asr_kd.data.tokens import Units
from asr_kd.models import build_model
from asr_kd.spikes import spikes_report, summarise


def test_summary_of_known_offsets():
    s = summarise([0, 0, 1, -1, 2, 5, -12])
    assert s["tokens"] == 7 and s["median_frames"] == 0.0
    assert s["within_1_frame"] == pytest.approx(4 / 7) and s["within_2_frames"] == pytest.approx(5 / 7)
    assert s["histogram"]["-10"] == 1  # clipped


def test_same_model_has_zero_offsets_and_png_is_written(data_dir, tmp_path):
    torch.manual_seed(0)
    units = Units.build(read_table(data_dir / "text").values())
    conf = {"hidden_size": 16, "num_layers": 1, "subsampling_channels": 8}
    model = build_model("rnn_ctc", conf, 80, len(units)).eval()
    ckpt = tmp_path / "m.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), ckpt)
    summary = spikes_report(ckpt, ckpt, data_dir, tmp_path / "out")
    assert summary["tokens"] > 20 and summary["within_1_frame"] == 1.0 and summary["mean_frames"] == 0.0
    assert (tmp_path / "out" / "spikes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "out" / "spikes.json").read_text())["tokens"] == summary["tokens"]
