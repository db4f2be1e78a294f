import torch

from asr_kd import checkpoint
from asr_kd.config import FeatureConfig
from asr_kd.data.tokens import Units
from asr_kd.features import GlobalCMVN
from asr_kd.models import build_model


def test_checkpoint_round_trip_weights_only(tmp_path):
    units = Units.build(["AB C"])
    cmvn = GlobalCMVN(torch.randn(80), torch.rand(80) + 0.5)
    model = build_model("rnn_ctc", {"hidden_size": 32, "num_layers": 2, "subsampling_channels": 16}, 80, len(units), cmvn).eval()
    path = tmp_path / "model.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", {"hidden_size": 32, "num_layers": 2,
                                                                   "subsampling_channels": 16},
                                                units, FeatureConfig(dither=0.5)), path)
    raw = torch.load(path, weights_only=True)  # no pickled objects inside
    assert raw["units"] == units.symbols
    loaded, loaded_units, feat_conf = checkpoint.load_model(path)
    assert loaded_units.symbols == units.symbols and feat_conf.dither == 0.5
    assert torch.equal(loaded.cmvn.mean, cmvn.mean)
    x, lens = torch.randn(2, 50, 80), torch.tensor([50, 30])
    with torch.no_grad():
        assert torch.equal(model(x, lens)[0], loaded(x, lens)[0])
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file
