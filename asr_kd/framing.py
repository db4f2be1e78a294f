"""Frame arithmetic shared by the torch models and the torch-free edge runtime: the x4 front-end's
output length and receptive field, and the window geometry of long-form decoding.

Output frame i of a x4 front-end (two kernel-3, stride-2 convolutions) sees input frames
[4i, 4i + 6], so a window starting at input frame 4m yields output frames m, m+1, ... exactly as the
whole-sequence pass numbers them. Fbank framing follows Kaldi (snip_edges=True)."""

from __future__ import annotations

from dataclasses import dataclass

from asr_kd.config import FeatureConfig
from asr_kd.data.audio import SAMPLE_RATE, AudioError

FACTOR = 4  # fbank frames per output frame
RECEPTIVE = 7  # input frames seen by one output frame of the front-end


def frame_samples(conf: FeatureConfig) -> tuple[int, int]:
    """(window, hop) of one fbank frame in samples at 16 kHz."""
    return int(SAMPLE_RATE * conf.frame_length_ms / 1000), int(SAMPLE_RATE * conf.frame_shift_ms / 1000)


def num_frames(num_samples: int, conf: FeatureConfig) -> int:
    """Frames that `fbank` yields for `num_samples` samples (Kaldi snip_edges=True)."""
    win, hop = frame_samples(conf)
    return 0 if num_samples < win else 1 + (num_samples - win) // hop


def check_length(num_samples: int, conf: FeatureConfig, what: str) -> None:
    """Audio shorter than one fbank window has no frames at all: refuse it by name."""
    if num_frames(num_samples, conf) == 0:
        raise AudioError(f"{what}: {num_samples / SAMPLE_RATE * 1000:.1f} ms of audio is shorter than one "
                         f"{conf.frame_length_ms:g} ms fbank window")


def subsampled_length(n):
    """Output frames for `n` input frames (int, array or tensor): two kernel-3, stride-2 convolutions."""
    return ((n - 1) // 2 - 1) // 2


@dataclass
class ChunkConfig:
    """Window geometry in output (40 ms) frames; defaults: 16 s kept per window, 2 s context each side."""

    chunk: int = 400
    left: int = 50
    right: int = 50
    batch_size: int = 4  # windows per model call


@dataclass(frozen=True)
class Window:
    in_start: int  # input (10 ms) frames fed to the model: [in_start, in_end)
    in_end: int
    keep_start: int  # window output frames kept: [keep_start, keep_end)
    keep_end: int


def make_windows(num_input_frames: int, conf: ChunkConfig) -> list[Window]:
    """Windows whose kept frames tile output frames [0, N) exactly once, N = subsampled_length(T)."""
    n_out = subsampled_length(num_input_frames)
    wins = []
    for a in range(0, max(n_out, 0), conf.chunk):
        b = min(a + conf.chunk, n_out)
        first = max(0, a - conf.left)  # first output frame the window computes
        last = min(n_out, b + conf.right)  # one past the last
        in_end = min(num_input_frames, FACTOR * (last - 1) + RECEPTIVE)
        wins.append(Window(FACTOR * first, in_end, a - first, b - first))
    return wins
