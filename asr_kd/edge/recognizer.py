"""Torch-free decode API: an ONNX export in, text out, with the training side's decoders and results.
`EdgeRecognizer("student.onnx").transcribe("a.wav").text`; `.stream()` for live audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asr_kd.ctc_search import PAUSE_SECONDS, CtcDecoder, GreedyCollapser, Result
from asr_kd.data.audio import SAMPLE_RATE, audio_input, check_finite
from asr_kd.edge.fbank import OnlineFbank, fbank
from asr_kd.edge.model import OnnxCTC
from asr_kd.framing import ChunkConfig, check_length, num_frames


class EdgeRecognizer:
    """Load once, transcribe many. `decoder`, `beam_size`, `lm`, `lm_weight`, `word_score`, `pause_seconds`:
    the CTC search, as in the torch recognizer (asr_kd.ctc_search.CtcDecoder)."""

    def __init__(self, model: str | Path, decoder: str = "greedy", beam_size: int = 8, lm: str | Path | None = None,
                 lm_weight: float = 1.0, word_score: float = 0.0, pause_seconds: float = PAUSE_SECONDS,
                 num_threads: int | None = None, chunk: ChunkConfig | None = None):
        self.model = OnnxCTC(model, num_threads)
        self.units, self.feature_conf = self.model.units, self.model.feature_conf
        self.search = CtcDecoder(self.units, self.feature_conf.frame_shift_ms, decoder, beam_size, lm, lm_weight,
                                 word_score, pause_seconds, self.model.output_delay)
        self.chunk = chunk or ChunkConfig()

    def features(self, wave: np.ndarray, what: str = "audio") -> np.ndarray:
        """(S,) float32 16 kHz -> (T, F) fbank; audio shorter than one window is an AudioError naming `what`."""
        check_length(len(wave), self.feature_conf, what)
        return fbank(wave, self.feature_conf)

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """(T, F) -> (T', V) CTC logits for one utterance of any length (memory bounded by a window)."""
        return self.model.logits(feats, self.chunk)

    def wave_logits(self, wave: np.ndarray, block_seconds: float = 20.0) -> np.ndarray:
        """(S,) float32 16 kHz -> (T', V): fbank computed `block_seconds` at a time and fed to the model as
        it comes (a streaming export with its carried state, an offline one window by window), so a
        10-minute file needs little more memory than its samples."""
        fb, step = OnlineFbank(self.feature_conf), int(block_seconds * SAMPLE_RATE)
        blocks = (fb.accept(wave[a : a + step]) for a in range(0, len(wave), step))  # (L_i, F) each
        return self.model.block_logits(blocks, num_frames(len(wave), self.feature_conf), self.chunk)

    def collapser(self) -> GreedyCollapser:
        return self.search.collapser()

    def result(self, ids: list[int], frames: list[int] | None = None) -> Result:
        return self.search.result(ids, frames)

    def decode(self, logits: np.ndarray) -> Result:
        """(T', V) -> CTC result with the configured decoder (asr_kd.ctc_search.CtcDecoder)."""
        return self.search(logits)

    def transcribe(self, audio: str | Path | np.ndarray, sample_rate: int | None = None) -> Result:
        """A file path (any rate, channels averaged), or a (S,) float array at `sample_rate` (default
        16000; resampled otherwise) -> Result. A path is always a file name, never a `<command> |` pipe."""
        what = str(audio) if isinstance(audio, (str, Path)) else "audio array"
        wave = audio_input(audio, sample_rate)
        check_length(len(wave), self.feature_conf, what)
        return self.decode(self.wave_logits(wave))

    def stream(self) -> "EdgeStream":
        """A streaming session (`--streaming` exports only)."""
        return EdgeStream(self)


class EdgeStream:
    """`s = rec.stream(); s.accept(samples); s.partial(); s.finish()` (16 kHz float32 mono, any chunk
    size). Greedy CTC over the streaming export: the text equals the offline decode of the same audio."""

    def __init__(self, rec: EdgeRecognizer):
        if not rec.model.streaming:
            raise ValueError(f"{rec.model.path}: streaming needs an `asr-kd export --streaming` model")
        self.rec, self.fbank = rec, OnlineFbank(rec.feature_conf)
        self.state = rec.model.initial_state()
        self.collapser = rec.collapser()

    def accept(self, samples: np.ndarray) -> None:
        """Feed more audio (any size; the export's `chunk_frames` is the size it was made for); the model
        runs at once on the fbank frames these samples complete."""
        samples = np.asarray(samples, np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples of shape (S,), got {samples.shape}")
        check_finite(samples, "audio chunk")
        logits, self.state = self.rec.model.step(self.fbank.accept(samples), self.state)  # (L', V)
        self.collapser.push(logits.argmax(-1).tolist())

    def partial(self) -> str:
        """Text decoded so far."""
        return self.rec.units.decode(self.collapser.ids)

    def finish(self) -> Result:
        """End of audio: frames too short for a full 40 ms output are dropped, as offline."""
        return self.rec.result(self.collapser.ids, self.collapser.frames)
