"""Kaldi-compatible log-mel fbank without torch (kaldi-native-fbank), the same numbers as the training
side's `asr_kd.features.fbank` (torchaudio.compliance.kaldi.fbank), offline and streaming."""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np

from asr_kd.config import FeatureConfig
from asr_kd.data.audio import SAMPLE_RATE

INT16_SCALE = 32768.0  # training computes fbank on int16-scaled samples


def fbank_options(conf: FeatureConfig) -> knf.FbankOptions:
    """knf options equal to the training side's torchaudio call; knf's own defaults differ (23 bins, dither)."""
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.frame_length_ms = conf.frame_length_ms
    opts.frame_opts.frame_shift_ms = conf.frame_shift_ms
    opts.frame_opts.dither = conf.dither
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.round_to_power_of_two = True
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = conf.num_mel_bins
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    opts.use_energy = False
    opts.energy_floor = 0.0
    opts.use_log_fbank = True
    opts.use_power = True
    return opts


class OnlineFbank:
    """Streaming fbank: feed audio in chunks of any size, get each frame once it is complete; the frames
    joined equal `fbank` of the joined audio. Frames handed out are dropped, so memory stays bounded."""

    def __init__(self, conf: FeatureConfig):
        self.num_mel_bins = conf.num_mel_bins
        self._fbank = knf.OnlineFbank(fbank_options(conf))
        self._next = 0  # index of the first frame not yet handed out (knf counts frames from the start)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(S,) float32 in [-1, 1] at 16 kHz -> (n, num_mel_bins) float32 frames completed by these samples."""
        samples = np.asarray(samples)
        if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
            raise ValueError(f"expected (S,) float samples in [-1, 1], got {samples.dtype} of shape {samples.shape}")
        samples = np.asarray(samples, np.float32) * np.float32(INT16_SCALE)  # (S,), one copy
        if samples.size:
            self._fbank.accept_waveform(SAMPLE_RATE, samples)
        ready = self._fbank.num_frames_ready
        frames = np.zeros((ready - self._next, self.num_mel_bins), np.float32)  # (n, F)
        for i in range(self._next, ready):
            frames[i - self._next] = self._fbank.get_frame(i)
        self._fbank.pop(ready - self._next)
        self._next = ready
        return frames


def fbank(wave: np.ndarray, conf: FeatureConfig, block_seconds: float = 20.0) -> np.ndarray:
    """(S,) float32 in [-1, 1] at 16 kHz -> (T, num_mel_bins) float32 log-mel fbank; T = 0 below one window.
    Fed `block_seconds` at a time, so the transient copies stay a block long on hour-long files."""
    online, step = OnlineFbank(conf), int(block_seconds * SAMPLE_RATE)
    blocks = [online.accept(wave[a : a + step]) for a in range(0, max(len(wave), 1), step)]
    return np.concatenate(blocks)
