"""The Python decode API: files, arrays, resampling, clear errors, word times, both decoders."""

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from asr_kd import Recognizer
from asr_kd.config import FeatureConfig
from asr_kd.data.audio import AudioError
from asr_kd.data.tokens import Units
from asr_kd.framing import ChunkConfig
from asr_kd.models import build_model, num_params


def _recognizer(**kwargs) -> Recognizer:
    torch.manual_seed(0)
    units = Units.build(["ABCDE "])
    model = build_model("rnn_ctc", {"hidden_size": 24, "num_layers": 2, "subsampling_channels": 16}, 80, len(units)).eval()
    with torch.no_grad():
        model.head.bias[0] = 0.0  # random weights; keep blank from dominating so tokens appear
    return Recognizer(model, units, FeatureConfig(), torch.device("cpu"), ChunkConfig(chunk=100000), **kwargs)


WAVE = (0.1 * np.random.default_rng(0).standard_normal(16000 * 2)).astype(np.float32)


def test_file_and_array_agree_and_other_rates_are_resampled(tmp_path):
    rec = _recognizer()
    sf.write(tmp_path / "a.wav", WAVE, 16000, subtype="FLOAT")
    from_array = rec.transcribe(WAVE)
    assert from_array.tokens and rec.transcribe(tmp_path / "a.wav") == from_array
    wave_8k = soxr.resample(WAVE, 16000, 8000).astype(np.float32)
    assert rec.transcribe(wave_8k, sample_rate=8000) == rec.transcribe(soxr.resample(wave_8k, 8000, 16000))
    assert rec.transcribe_batch([WAVE, tmp_path / "a.wav"]) == [from_array, from_array]


def test_clear_errors_for_bad_arrays(tmp_path):
    rec = _recognizer()
    with pytest.raises(AudioError, match="mono"):
        rec.transcribe(np.stack([WAVE, WAVE], axis=1))
    with pytest.raises(AudioError, match="empty"):
        rec.transcribe(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="float"):
        rec.transcribe((WAVE * 32767).astype(np.int16))
    with pytest.raises(AudioError, match="sample_rate"):
        rec.transcribe(WAVE, sample_rate=16.0)
    with pytest.raises(ValueError, match="for arrays"):
        sf.write(tmp_path / "a.wav", WAVE, 16000)
        rec.transcribe(tmp_path / "a.wav", sample_rate=16000)
    with pytest.raises(ValueError, match="decoder"):
        _recognizer(decoder="viterbi")


def test_word_times_follow_the_spikes():
    rec = _recognizer()
    a, b, space = rec.units.ids["A"], rec.units.ids["B"], rec.units.ids["<space>"]
    result = rec.result([a, b, space, b], frames=[2, 3, 6, 10])
    assert result.text == "AB B"
    assert [(w.text, w.start, w.end) for w in result.words] == [("AB", 0.08, 0.16), ("B", 0.4, 0.44)]


def test_beam_decoder_on_a_recognizer():
    rec = _recognizer(decoder="beam", beam_size=4)
    greedy = _recognizer()
    logits = greedy.logits(greedy.features(WAVE))
    beam_result = rec.decode(logits)
    assert beam_result.tokens and len(beam_result.words) == len(beam_result.text.split())
    assert all(w.start < w.end for w in beam_result.words)


def test_int8_student_runs_and_stays_close_to_fp32(tmp_path):
    from asr_kd import checkpoint

    rec = _recognizer()
    path = tmp_path / "s.pt"
    checkpoint.save(checkpoint.model_checkpoint(rec.model, "rnn_ctc", {"hidden_size": 24, "num_layers": 2,
                    "subsampling_channels": 16}, rec.units, FeatureConfig()), path)
    fp32 = Recognizer.from_checkpoint(path)
    int8 = Recognizer.from_checkpoint(path, precision="int8")
    assert num_params(int8.model) == num_params(fp32.model)
    assert "quantized" in type(int8.model.rnn).__module__ and "quantized" in type(int8.model.head).__module__
    feats = fp32.features(WAVE)
    a, b = fp32.logits(feats), int8.logits(feats)
    assert a.shape == b.shape and (a - b).abs().max() < 0.1 * a.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.9
    with pytest.raises(ValueError, match="precision"):
        Recognizer.from_checkpoint(path, precision="int4")
