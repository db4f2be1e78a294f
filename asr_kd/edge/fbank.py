"""Kaldi-compatible log-mel fbank in numpy (no torch), the same numbers as the training side's
`asr_kd.features.fbank` (torchaudio.compliance.kaldi.fbank with the project's settings), offline and
streaming, vectorised over frames: sliding-window framing, dither, DC removal, pre-emphasis 0.97 and
the povey window in float32 in torchaudio's order (so frames round as training's do), a zero-padded
float64 real FFT, power spectrum, one float32 matmul with Kaldi's mel banks (20 Hz to Nyquist), log
floored at float32 eps."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import ThreadpoolController

from asr_kd.config import FeatureConfig
from asr_kd.data.audio import SAMPLE_RATE
from asr_kd.framing import frame_samples, num_frames

INT16_SCALE = 32768.0  # training computes fbank on int16-scaled samples
PREEMPH = np.float32(0.97)
LOW_FREQ = 20.0  # Hz, lowest mel bank edge; the highest is Nyquist (Kaldi's high_freq 0)
LOG_FLOOR = np.finfo(np.float32).eps  # Kaldi floors mel energies here before the log
DITHER_SEED = 0  # dithered features are reproducible, and the stream equals the offline pass with dither too
# Frames per mel matmul. BLAS rounds a row differently depending on the call's shape (gemv for 1 row,
# other kernels for edge rows), so frame i is always computed at row i % GROUP of a (GROUP, bins)
# matmul: the same call for the same row whether frames come one at a time or by the thousand, which
# makes the stream bit-exact with the offline pass. Every other step works row by row.
GROUP = 64


def _mel_scale(freq):
    """Hz -> Kaldi mel, scalar or array."""
    return 1127.0 * np.log(1.0 + np.asarray(freq) / 700.0)


@lru_cache(maxsize=None)
def _mel_banks(num_bins: int, nfft: int) -> np.ndarray:
    """(nfft // 2 + 1, num_bins) float32 weights for `power @ banks`, as torchaudio's get_mel_banks:
    triangles in mel space equally spaced from LOW_FREQ to Nyquist, none on the Nyquist bin."""
    mel_low, mel_high = _mel_scale(LOW_FREQ), _mel_scale(SAMPLE_RATE / 2)
    delta = (mel_high - mel_low) / (num_bins + 1)
    left = mel_low + delta * np.arange(num_bins)[:, None]  # (num_bins, 1)
    center, right = left + delta, left + 2 * delta
    mel = _mel_scale(SAMPLE_RATE / nfft * np.arange(nfft // 2))[None, :]  # (1, nfft // 2)
    banks = np.maximum(0.0, np.minimum((mel - left) / (center - left), (right - mel) / (right - center)))
    banks = np.pad(banks, ((0, 0), (0, 1)))  # (num_bins, nfft // 2 + 1)
    banks = np.ascontiguousarray(banks.T, dtype=np.float32)
    banks.flags.writeable = False  # shared by every stream of this size
    return banks


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """numpy's BLAS, to run the small mel matmuls on one thread: more threads only fight the model's
    onnxruntime threads for the cores (features 5x slower with 2 threads on 2 cores)."""
    return ThreadpoolController()


@lru_cache(maxsize=None)
def _povey_window(win: int) -> np.ndarray:
    """(win,) float32 povey window (symmetric Hann ** 0.85), computed in float32 the way
    torch.hann_window(periodic=False).pow(0.85) is, so windowed frames mostly round as training's do:
    with a correctly rounded window, the near-empty bins of quiet noise move by up to 1.2e-3 in log."""
    angle = np.arange(win, dtype=np.float32) * np.float32(2 * np.pi / (win - 1))
    window = (np.float32(0.5) - np.float32(0.5) * np.cos(angle)) ** np.float32(0.85)
    window.flags.writeable = False
    return window


class OnlineFbank:
    """Streaming fbank: feed audio in chunks of any size, get each frame once it is complete; the frames
    joined equal `fbank` of the joined audio bit for bit. Only the samples not yet consumed by a
    complete frame (fewer than one window) are kept, so memory stays bounded."""

    def __init__(self, conf: FeatureConfig):
        self.conf = conf
        self.win, self.hop = frame_samples(conf)
        nfft = 1 << (self.win - 1).bit_length()  # next power of two
        self._window, self._banks = _povey_window(self.win), _mel_banks(conf.num_mel_bins, nfft)
        self._rng = np.random.default_rng(DITHER_SEED)
        self._tail = np.zeros(0, np.float32)  # (< win,) int16-scaled samples not yet in a complete frame
        self._next = 0  # stream index of the next frame: its row in the mel matmul (see GROUP)
        self._padded = np.zeros((GROUP, nfft))  # (GROUP, nfft) FFT input; columns from win on stay 0
        self._power = np.zeros((GROUP, nfft // 2 + 1), np.float32)  # (GROUP, nfft // 2 + 1) mel matmul input

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(S,) float in [-1, 1] at 16 kHz -> (n, num_mel_bins) float32 frames completed by these samples."""
        x = self._extend(samples)  # (tail + S,)
        n = num_frames(len(x), self.conf)
        feats = self._frames(x, n) if n else np.zeros((0, self.conf.num_mel_bins), np.float32)  # (n, F)
        self._tail = x[n * self.hop :].copy()  # a copy: the block itself is not kept
        self._next += n
        return feats

    def _extend(self, samples: np.ndarray) -> np.ndarray:
        """(S,) float samples -> (tail + S,) float32: the kept tail, then the samples int16-scaled."""
        samples = np.asarray(samples)
        if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
            raise ValueError(f"expected (S,) float samples in [-1, 1], got {samples.dtype} of shape {samples.shape}")
        x = np.empty(len(self._tail) + len(samples), np.float32)  # (tail + S,)
        x[: len(self._tail)] = self._tail
        np.multiply(samples, INT16_SCALE, out=x[len(self._tail) :], casting="same_kind")
        return x

    def _frames(self, x: np.ndarray, n: int) -> np.ndarray:
        """(L,) float32 int16-scaled samples -> (n, F) float32 log-mel of their first n frames, n >= 1,
        in pieces that end where a matmul group ends."""
        frames = sliding_window_view(x, self.win)[:: self.hop]  # (>= n, win) views, no copy
        feats, a = np.empty((n, self.conf.num_mel_bins), np.float32), 0  # (n, F)
        with _blas().limit(limits=1, user_api="blas"):
            while a < n:
                row = (self._next + a) % GROUP
                b = min(n, a + GROUP - row)
                feats[a:b] = self._log_mel(frames[a:b], row)
                a = b
        return feats

    def _log_mel(self, frames: np.ndarray, row: int) -> np.ndarray:
        """(g, win) float32 frames, g <= GROUP - row -> (g, F) float32 log-mel, at rows row..row+g of the
        fixed-shape mel matmul. Float32 steps in torchaudio's order up to the window."""
        g = len(frames)
        if self.conf.dither > 0:  # Gaussian of std `dither` in int16 units, per frame as torchaudio
            frames = frames + np.float32(self.conf.dither) * self._rng.standard_normal(frames.shape, np.float32)
        centred = frames - (np.add.reduce(frames, axis=1) / self.win)[:, None]  # (g, win) DC offset removed
        emph = np.empty_like(centred)  # (g, win) pre-emphasised: x[j] - 0.97 x[j-1], x[0] - 0.97 x[0]
        np.multiply(centred[:, :-1], -PREEMPH, out=emph[:, 1:])
        emph[:, 1:] += centred[:, 1:]
        emph[:, 0] = centred[:, 0] - PREEMPH * centred[:, 0]
        np.multiply(emph, self._window, out=self._padded[:g, : self.win])  # float32 product, kept in float64
        spec = np.fft.rfft(self._padded[:g]).view(np.float64)  # (g, nfft + 2): real, imag interleaved
        np.square(spec, out=spec)
        np.add(spec[:, 0::2], spec[:, 1::2], out=self._power[row : row + g])
        mel = (self._power @ self._banks)[row : row + g]  # (g, F): these frames' rows of the (GROUP, F) product
        return np.log(np.maximum(mel, LOG_FLOOR))


def fbank(wave: np.ndarray, conf: FeatureConfig, block_seconds: float = 20.0) -> np.ndarray:
    """(S,) float32 in [-1, 1] at 16 kHz -> (T, num_mel_bins) float32 log-mel fbank; T = 0 below one window.
    Fed `block_seconds` at a time, so the transient copies stay a block long on hour-long files."""
    online, step = OnlineFbank(conf), int(block_seconds * SAMPLE_RATE)
    blocks = [online.accept(wave[a : a + step]) for a in range(0, max(len(wave), 1), step)]
    return np.concatenate(blocks)
