"""Python decode API: a checkpoint in, text out, with each stage callable (and timeable) alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr_kd import checkpoint
from asr_kd.chunking import ChunkConfig, windowed_logits
from asr_kd.data.audio import load_audio
from asr_kd.decoding import greedy_decode
from asr_kd.features import fbank
from asr_kd.train import select_device


@dataclass
class Result:
    text: str
    tokens: list[str]


class Recognizer:
    """Load once, transcribe many: `Recognizer.from_checkpoint(path).transcribe("a.wav").text`."""

    def __init__(self, model, units, feature_conf, device: torch.device, chunk: ChunkConfig | None = None):
        self.model, self.units, self.feature_conf, self.device = model.to(device), units, feature_conf, device
        self.chunk = chunk or ChunkConfig()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", num_threads: int | None = None,
                        chunk: ChunkConfig | None = None) -> "Recognizer":
        if num_threads:
            torch.set_num_threads(num_threads)
        model, units, feature_conf = checkpoint.load_model(path)
        return cls(model, units, feature_conf, select_device(device), chunk)

    def features(self, wave: np.ndarray) -> torch.Tensor:
        """(S,) float32 16 kHz -> (T, F) fbank on the model's device."""
        return fbank(torch.from_numpy(wave), self.feature_conf).to(self.device)

    @torch.inference_mode()
    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(T, F) -> (T', V) CTC logits for one utterance of any length, in windows (see chunking)."""
        return windowed_logits(self.model, feats, self.chunk)

    def decode(self, logits: torch.Tensor) -> Result:
        ids = greedy_decode(logits.unsqueeze(0), torch.tensor([logits.shape[0]]))[0]
        return Result(self.units.decode(ids), [self.units.symbols[i] for i in ids])

    def stream(self):
        """A streaming session (unidirectional RNN students only); see asr_kd.streaming."""
        from asr_kd.streaming import Stream

        return Stream(self)

    def transcribe(self, audio: str | Path | np.ndarray) -> Result:
        """A file path or a (S,) float32 16 kHz array -> Result."""
        wave = load_audio(str(audio)) if isinstance(audio, (str, Path)) else np.asarray(audio, np.float32)
        return self.decode(self.logits(self.features(wave)))
