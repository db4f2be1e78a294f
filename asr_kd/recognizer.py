"""Python decode API: a checkpoint in, text out, with each stage callable (and timeable) alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr_kd import checkpoint
from asr_kd.chunking import ChunkConfig, windowed_logits
from asr_kd.data.audio import load_audio
from asr_kd.data.tokens import SPACE
from asr_kd.decoding import GreedyCollapser
from asr_kd.features import fbank
from asr_kd.models.subsampling import FACTOR
from asr_kd.train import select_device

PAUSE_SECONDS = 0.5  # default: a silence this long between two tokens is a word boundary


@dataclass
class Result:
    text: str
    tokens: list[str]


class Recognizer:
    """Load once, transcribe many: `Recognizer.from_checkpoint(path).transcribe("a.wav").text`."""

    def __init__(self, model, units, feature_conf, device: torch.device, chunk: ChunkConfig | None = None,
                 pause_seconds: float = PAUSE_SECONDS):
        self.model, self.units, self.feature_conf, self.device = model.to(device), units, feature_conf, device
        self.chunk = chunk or ChunkConfig()
        frame_seconds = FACTOR * feature_conf.frame_shift_ms / 1000
        self.pause_frames = round(pause_seconds / frame_seconds) if pause_seconds > 0 else 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", num_threads: int | None = None,
                        chunk: ChunkConfig | None = None, pause_seconds: float = PAUSE_SECONDS) -> "Recognizer":
        """`pause_seconds`: blank runs at least this long become word boundaries (0: off)."""
        if num_threads:
            torch.set_num_threads(num_threads)
        model, units, feature_conf = checkpoint.load_model(path)
        return cls(model, units, feature_conf, select_device(device), chunk, pause_seconds)

    def features(self, wave: np.ndarray, block_frames: int = 6000) -> torch.Tensor:
        """(S,) float32 16 kHz -> (T, F) fbank on the model's device. Computed `block_frames`
        frames (60 s) at a time: fbank frames are independent, so the result is the same as one
        call, and the transient memory of fbank stays bounded on hour-long files."""
        hop = int(16000 * self.feature_conf.frame_shift_ms / 1000)
        win = int(16000 * self.feature_conf.frame_length_ms / 1000)
        wave = torch.from_numpy(np.asarray(wave, np.float32))
        blocks = [fbank(wave[start : start + (block_frames - 1) * hop + win], self.feature_conf)
                  for start in range(0, max(1, len(wave) - win + 1), block_frames * hop)]
        return torch.cat(blocks).to(self.device)

    @torch.inference_mode()
    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(T, F) -> (T', V) CTC logits for one utterance of any length, in windows (see chunking)."""
        return windowed_logits(self.model, feats, self.chunk)

    def collapser(self) -> GreedyCollapser:
        """A fresh greedy CTC collapser with this recognizer's pause handling."""
        return GreedyCollapser(0, self.units.ids.get(SPACE), self.pause_frames if SPACE in self.units.ids else 0)

    def result(self, ids: list[int]) -> Result:
        return Result(self.units.decode(ids), [self.units.symbols[i] for i in ids])

    def decode(self, logits: torch.Tensor) -> Result:
        """(T', V) -> greedy CTC result."""
        return self.result(self.collapser().push(logits.argmax(-1).tolist()))

    def stream(self):
        """A streaming session (unidirectional RNN students only); see asr_kd.streaming."""
        from asr_kd.streaming import Stream

        return Stream(self)

    def transcribe(self, audio: str | Path | np.ndarray) -> Result:
        """A file path or a (S,) float32 16 kHz array -> Result."""
        wave = load_audio(str(audio)) if isinstance(audio, (str, Path)) else np.asarray(audio, np.float32)
        return self.decode(self.logits(self.features(wave)))
