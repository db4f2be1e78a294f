"""Python decode API: a checkpoint in, text out, with each stage callable (and timeable) alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from asr_kd import checkpoint
from asr_kd.chunking import ChunkConfig, windowed_logits
from asr_kd.ctc_search import PAUSE_SECONDS, CtcDecoder, GreedyCollapser, Result
from asr_kd.data.audio import audio_input
from asr_kd.export import load_exported
from asr_kd.features import fbank
from asr_kd.framing import check_length, frame_samples
from asr_kd.quantize import PRECISIONS, quantize_int8
from asr_kd.runtime import select_device


class Recognizer:
    """Load once, transcribe many: `Recognizer.from_checkpoint(path).transcribe("a.wav").text`."""

    def __init__(self, model, units, feature_conf, device: torch.device, chunk: ChunkConfig | None = None,
                 pause_seconds: float = PAUSE_SECONDS, decoder: str = "greedy", beam_size: int = 8,
                 lm: str | Path | None = None, lm_weight: float = 1.0, word_score: float = 0.0):
        self.model, self.units, self.feature_conf, self.device = model.to(device), units, feature_conf, device
        self.search = CtcDecoder(units, feature_conf.frame_shift_ms, decoder, beam_size, lm, lm_weight, word_score,
                                 pause_seconds, getattr(model, "output_delay", 0))  # any logits module will do
        self.chunk = chunk or ChunkConfig()
        self.frame_seconds = self.search.frame_seconds

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", num_threads: int | None = None,
                        chunk: ChunkConfig | None = None, pause_seconds: float = PAUSE_SECONDS,
                        decoder: str = "greedy", beam_size: int = 8, precision: str = "fp32",
                        lm: str | Path | None = None, lm_weight: float = 1.0, word_score: float = 0.0) -> "Recognizer":
        """`path`: a training checkpoint, or an `.onnx` / `.ts` file from `asr-kd export` (CPU).
        `pause_seconds`: blank runs at least this long become word boundaries (0: off);
        `decoder`: "greedy" (best path) or "beam" (CTC prefix beam search of `beam_size`; with `lm`,
        an ARPA word n-gram, flashlight's lexicon beam search weighted by `lm_weight`/`word_score`);
        `precision`: "fp32" or "int8" (dynamic quantisation of Linear/RNN layers, CPU only)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if num_threads:
            torch.set_num_threads(num_threads)
        if Path(path).suffix in (".onnx", ".ts"):  # from `asr-kd export`
            if precision != "fp32":
                raise ValueError("--precision applies to checkpoints, not to exported models")
            model, units, feature_conf = load_exported(path, num_threads)
        else:
            model, units, feature_conf = checkpoint.load_model(path)
        if precision == "int8":
            if select_device(device).type != "cpu":
                raise ValueError("int8 dynamic quantisation runs on CPU only; use --device cpu")
            model = quantize_int8(model)
        return cls(model, units, feature_conf, select_device(device), chunk, pause_seconds, decoder, beam_size,
                   lm, lm_weight, word_score)

    def features(self, wave: np.ndarray, what: str = "audio", block_frames: int = 6000) -> torch.Tensor:
        """(S,) float32 16 kHz -> (T, F) fbank on the model's device; audio shorter than one window is
        an AudioError naming `what`. Computed `block_frames` frames (60 s) at a time: fbank frames are
        independent, so the result is the same as one call, and the transient memory of fbank stays
        bounded on hour-long files."""
        win, hop = frame_samples(self.feature_conf)
        check_length(len(wave), self.feature_conf, what)
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
        return self.search.collapser()

    def result(self, ids: list[int], frames: list[int] | None = None) -> Result:
        """Token ids (with the output frame of each, for word times) -> Result."""
        return self.search.result(ids, frames)

    def decode(self, logits: torch.Tensor) -> Result:
        """(T', V) -> CTC result with the configured decoder (asr_kd.ctc_search.CtcDecoder, shared with
        the edge runtime)."""
        return self.search(logits.detach().float().cpu().numpy())

    def stream(self):
        """A streaming session (unidirectional RNN students only); see asr_kd.streaming."""
        from asr_kd.streaming import Stream

        return Stream(self)

    def transcribe(self, audio: str | Path | np.ndarray, sample_rate: int | None = None) -> Result:
        """A file path (any rate, channels averaged), or a (S,) float array at `sample_rate`
        (default 16000; resampled otherwise) -> Result with text, tokens and word times.
        A path is always a file name (never a `<command> |` pipe). Audio that cannot give a correct
        transcript (NaN/inf samples, empty, shorter than one 25 ms fbank window) raises AudioError
        naming the file."""
        what = str(audio) if isinstance(audio, (str, Path)) else "audio array"
        return self.decode(self.logits(self.features(audio_input(audio, sample_rate), what)))

    def transcribe_batch(self, audios: list, sample_rate: int | None = None) -> list[Result]:
        """`transcribe` for each item; each is decoded alone, so results equal single calls."""
        return [self.transcribe(a, sample_rate) for a in audios]
