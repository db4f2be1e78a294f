import numpy as np
import pytest
import soundfile as sf

from asr_kd.data.audio import AudioError, load_audio


def test_resample_and_mix_stereo(tmp_path):
    t = np.arange(8000) / 8000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "a.wav", np.stack([left, np.zeros_like(left)], 1), 8000, subtype="PCM_16")
    wave = load_audio(str(tmp_path / "a.wav"))
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16000) <= 1  # 1 s at 16 kHz
    assert np.abs(wave).max() == pytest.approx(0.25, abs=0.01)  # channels averaged


def test_segment_reads_only_its_samples(tmp_path):
    x = np.linspace(-0.5, 0.5, 32000, dtype=np.float32)
    sf.write(tmp_path / "b.wav", x, 16000, subtype="FLOAT")
    seg = load_audio(str(tmp_path / "b.wav"), 0.5, 1.0)
    np.testing.assert_allclose(seg, x[8000:16000])


def test_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav"):
        load_audio(str(tmp_path / "missing.wav"))
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000garbage")
    with pytest.raises(AudioError, match="bad.wav"):
        load_audio(str(tmp_path / "bad.wav"))
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(str(tmp_path / "nan.wav"))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
def test_sample_formats_and_rates(tmp_path, subtype, rate):
    x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate)).astype(np.float32)
    sf.write(tmp_path / "c.wav", x, rate, subtype=subtype)
    wave = load_audio(str(tmp_path / "c.wav"))
    assert abs(len(wave) - 16000) <= 1 and np.abs(wave).max() == pytest.approx(0.5, abs=0.02)
