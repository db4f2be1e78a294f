"""The torch-free edge fbank (vectorised numpy) against the training side's torchaudio fbank, and its stream
against its offline pass (bit-exact, whatever the chunking)."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_kd import features
from asr_kd.config import FeatureConfig
from asr_kd.data.audio import to_mono_16k
from asr_kd.edge.fbank import OnlineFbank, fbank
from asr_kd.framing import frame_samples, num_frames

CONFS = [FeatureConfig(), FeatureConfig(num_mel_bins=40, frame_shift_ms=20.0), FeatureConfig(frame_length_ms=32.0)]


def train_fbank(wave: np.ndarray, conf: FeatureConfig) -> np.ndarray:
    """(S,) -> (T, F) float32 as training computes it (torchaudio refuses audio shorter than one window)."""
    if num_frames(len(wave), conf) == 0:
        return np.zeros((0, conf.num_mel_bins), np.float32)
    return features.fbank(torch.from_numpy(wave), conf).numpy()


def noise_with_silence(seed: int, n: int) -> np.ndarray:
    """(n,) float32 white noise at a random level with a stretch of digital silence in the middle."""
    rng = np.random.default_rng(seed)
    wave = (10 ** rng.uniform(-4, -0.5) * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)
    wave[n // 3 : n // 3 + 4000] = 0.0
    return wave


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """(S,) float32 16 kHz speech synthesised by espeak-ng (22.05 kHz, resampled as the data side does)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed: no real speech to compare on")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([espeak, "-w", str(path), "The quick brown fox jumps over the lazy dog. Edge features must match."],
                   check=True, capture_output=True)
    samples, sr = sf.read(path, dtype="float32")
    return to_mono_16k(samples, sr)


@pytest.mark.parametrize("conf", CONFS, ids=lambda c: f"{c.num_mel_bins}bins-{c.frame_length_ms:g}-{c.frame_shift_ms:g}ms")
@pytest.mark.parametrize("n", [0, 1, 399, 400, 401, 559, 560, 561, 5000, 16000, 48000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_audio_matches_training(seed, n, conf):
    wave = noise_with_silence(seed, n)
    edge, ref = fbank(wave, conf), train_fbank(wave, conf)
    assert edge.dtype == np.float32 and edge.shape == ref.shape == (num_frames(n, conf), conf.num_mel_bins)
    if edge.size:
        assert np.abs(edge - ref).max() <= 1e-3


def test_digital_silence_is_the_floor():
    wave = np.zeros(16000, np.float32)
    edge, ref = fbank(wave, FeatureConfig()), train_fbank(wave, FeatureConfig())
    assert np.array_equal(edge, ref)
    assert np.all(edge == np.log(np.finfo(np.float32).eps))  # Kaldi's log floor on zero energy


@pytest.mark.parametrize("conf", CONFS, ids=lambda c: f"{c.num_mel_bins}bins-{c.frame_length_ms:g}-{c.frame_shift_ms:g}ms")
def test_speech_matches_training(speech, conf):
    edge, ref = fbank(speech, conf).astype(np.float64), train_fbank(speech, conf).astype(np.float64)  # (T, F)
    assert edge.shape == ref.shape == (num_frames(len(speech), conf), conf.num_mel_bins)
    # float32 FFT rounding is relative to the whole frame, so bins far below their frame's energy (near-silent
    # ones) differ more in log: 1e-3 where a bin holds at least 1e-6 of its frame, else only rounding of the frame.
    power, frame_power = np.exp(ref), np.exp(ref).sum(1, keepdims=True)  # (T, F), (T, 1)
    audible = power >= 1e-6 * frame_power
    assert audible.mean() > 0.8
    assert np.abs(edge - ref)[audible].max() <= 1e-3
    assert (np.abs(np.exp(edge) - power) / frame_power).max() <= 2e-5


@pytest.mark.parametrize("chunks", [[1], [37], [160], [5000], [1, 0, 37, 160, 399, 400, 401, 5000, 2]])
def test_online_equals_offline(chunks):
    conf = FeatureConfig()
    wave = noise_with_silence(3, 30000)
    stream, pieces, start, i = OnlineFbank(conf), [], 0, 0
    while start < len(wave):
        size = chunks[i % len(chunks)]
        out = stream.accept(wave[start : start + size])
        assert out.dtype == np.float32 and out.shape[1] == conf.num_mel_bins
        pieces.append(out)
        start, i = start + size, i + 1
    assert np.array_equal(np.concatenate(pieces), fbank(wave, conf))


def test_online_is_bit_exact_one_frame_at_a_time():
    # Frames computed one per call (a 1-row matmul would be BLAS gemv) against 10,000 frames in one call.
    conf = FeatureConfig()
    win, hop = frame_samples(conf)
    wave = noise_with_silence(4, win + 9999 * hop)
    stream = OnlineFbank(conf)
    single = [stream.accept(wave[:win])] + [stream.accept(wave[a : a + hop]) for a in range(win, len(wave), hop)]
    assert all(len(frame) == 1 for frame in single)
    batch = fbank(wave, conf, block_seconds=200.0)  # one block: all 10,000 frames together
    assert batch.shape == (10000, conf.num_mel_bins)
    assert np.array_equal(np.concatenate(single), batch)


def test_online_keeps_only_the_unconsumed_tail():
    conf = FeatureConfig()
    win, hop = frame_samples(conf)
    stream, frames = OnlineFbank(conf), 0
    for seed in range(20):
        frames += len(stream.accept(noise_with_silence(seed, 16000)))
    assert frames == num_frames(20 * 16000, conf)
    assert stream._tail.size == 20 * 16000 - frames * hop < win  # from the last frame's start + hop on


def test_dither_is_honoured():
    silence = np.zeros(16000, np.float32)
    assert np.array_equal(fbank(silence, FeatureConfig()), fbank(silence, FeatureConfig()))
    conf = FeatureConfig(dither=1.0)
    edge, ref = fbank(silence, conf), train_fbank(silence, conf)  # Gaussian noise of std 1 in int16 units
    assert edge.min() > -10
    assert abs(edge.mean() - ref.mean()) < 0.1


def test_refuses_what_is_not_mono_float_samples():
    with pytest.raises(ValueError, match="shape"):
        fbank(np.zeros((16000, 2), np.float32), FeatureConfig())
    with pytest.raises(ValueError, match="int16"):
        fbank(np.zeros(16000, np.int16), FeatureConfig())


def test_imports_no_torch():
    code = ("import sys; sys.modules['torch'] = sys.modules['torchaudio'] = None\n"
            "import numpy as np\n"
            "from asr_kd.config import FeatureConfig\n"
            "from asr_kd.edge.fbank import fbank\n"
            "print(fbank(np.zeros(16000, np.float32), FeatureConfig()).shape)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(98, 80)"
