import numpy as np
import pytest
import torch

from asr_kd.config import FeatureConfig
from asr_kd.data.tokens import Units
from asr_kd.framing import ChunkConfig
from asr_kd.models import build_model
from asr_kd.recognizer import Recognizer


def _recognizer(**conf):
    torch.manual_seed(0)
    units = Units.build(["ABCDE "])
    model = build_model("rnn_ctc", {"hidden_size": 24, "num_layers": 2, "subsampling_channels": 16, **conf},
                        80, len(units)).eval()
    with torch.no_grad():
        model.head.bias[0] = 0.0  # random weights; keep blank from dominating so tokens appear
    return Recognizer(model, units, FeatureConfig(), torch.device("cpu"), ChunkConfig(chunk=100000))


@pytest.mark.parametrize("piece", [1, 159, 160, 1234, 16000])
@pytest.mark.parametrize("skip", [False, True])
def test_streaming_equals_offline(piece, skip):
    rec = _recognizer(frontend_norm=skip, residual=skip)
    wave = np.random.default_rng(0).standard_normal(16000 * 3 + 77).astype(np.float32) * 0.1
    offline = rec.transcribe(wave)
    stream = rec.stream()
    partials = []
    for start in range(0, len(wave), piece):
        stream.accept(wave[start : start + piece])
        partials.append(stream.partial())
    result = stream.finish()
    assert offline.tokens and result.tokens == offline.tokens and result.text == offline.text
    assert all(offline.text.startswith(p) for p in partials)  # partials only grow


def test_streaming_rejects_what_cannot_stream():
    with pytest.raises(ValueError, match="unidirectional"):
        _recognizer(bidirectional=True).stream()
    with pytest.raises(ValueError, match="mono"):
        _recognizer().stream().accept(np.zeros((10, 2)))
