"""Decode a data directory with a checkpoint: hypotheses as Kaldi `text`, WER/CER, per-utterance
and per-speaker reports, and RTF split into features / model / decoding."""

from __future__ import annotations

import dataclasses
import platform
import resource
from pathlib import Path

import torch
from tqdm import tqdm

from asr_kd.chunking import ChunkConfig
from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir, load_recordings, write_table
from asr_kd.features import check_length
from asr_kd.fileio import write_json, write_text
from asr_kd.models import num_params
from asr_kd.recognizer import PAUSE_SECONDS, Recognizer
from asr_kd.scoring import StageTimer, kaldi_wer_line, score

WARMUP_SAMPLES = 10 * 16000  # warm-up audio: the first 10 s of the first utterance


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def decode_data_dir(ckpt_path: str | Path, data_dir: str | Path, out_dir: str | Path, device: str = "cpu",
                    num_threads: int = 1, allow_pipes: bool = False, chunk: ChunkConfig | None = None,
                    whole_recordings: bool = False, pause_seconds: float = PAUSE_SECONDS, decoder: str = "greedy",
                    beam_size: int = 8, precision: str = "fp32", lm: str | None = None, lm_weight: float = 1.0,
                    word_score: float = 0.0) -> dict:
    """Decode every utterance of `data_dir` one at a time (batch 1) and write
    out_dir/{text, wer, per_utt, per_spk, rtf.json, result.json}; returns the result dict.
    The first utterance (at most its first 10 s: a whole recording must not be decoded twice) is
    decoded once untimed as warm-up; audio reading is not timed.
    With `whole_recordings`, each wav.scp recording is decoded whole (in windows) and scored
    against `reco2text`: the long-form evaluation."""
    rec = Recognizer.from_checkpoint(ckpt_path, device=device, num_threads=num_threads, chunk=chunk,
                                     pause_seconds=pause_seconds, decoder=decoder, beam_size=beam_size,
                                     precision=precision, lm=lm, lm_weight=lm_weight, word_score=word_score)
    utts = (load_recordings if whole_recordings else load_data_dir)(data_dir, allow_pipes=allow_pipes)
    timer = StageTimer(rec.device)
    hyps, audio_seconds = {}, 0.0
    for i, utt in enumerate(tqdm(utts, desc=f"decode {Path(data_dir).name}", unit="utt")):
        wave = load_utterance(utt, allow_pipes)
        check_length(len(wave), rec.feature_conf, f"utterance {utt.utt}")
        if i == 0:
            rec.decode(rec.logits(rec.features(wave[:WARMUP_SAMPLES])))  # warm-up, not timed
        audio_seconds += len(wave) / 16000
        feats = timer.time("features", rec.features, wave)
        logits = timer.time("model", rec.logits, feats)
        hyps[utt.utt] = timer.time("decoding", rec.decode, logits).text
    stages = dict(timer.seconds)
    rtf = {
        "rtf_total": sum(stages.values()) / audio_seconds,
        **{f"rtf_{k}": v / audio_seconds for k, v in stages.items()},
        "audio_seconds": round(audio_seconds, 2), "utterances": len(utts), "batch_size": 1,
        "device": str(rec.device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": cpu_model(), "gpu": torch.cuda.get_device_name(rec.device) if rec.device.type == "cuda" else None,
        "chunking": dataclasses.asdict(rec.chunk), "pause_seconds": pause_seconds,
        "decoder": decoder, "beam_size": beam_size if decoder == "beam" else None, "precision": precision,
        "lm": str(lm) if lm else None, "lm_weight": lm_weight if lm else None, "warmup_utts": 1,
        "excluded": "audio file reading", "whole_recordings": whole_recordings,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return write_decode(out_dir, utts, hyps, rtf, {"checkpoint": str(ckpt_path), "data": str(data_dir),
                                                    "params": num_params(rec.model)})


def write_decode(out_dir: str | Path, utts: list, hyps: dict[str, str], rtf: dict, meta: dict) -> dict:
    """Score `hyps` against the utterances' texts and write out_dir/{text, wer, per_utt, per_spk,
    rtf.json, result.json} (result.json = the summary + `meta` + rtf); returns summary + rtf."""
    out_dir = Path(out_dir)
    result = score({u.utt: u.text for u in utts}, hyps, {u.utt: u.spk for u in utts})
    write_table(out_dir / "text", hyps)
    write_text(out_dir / "wer", kaldi_wer_line(result) + f"\n%CER {result['cer']:.2f}\n")
    write_text(out_dir / "per_utt", "".join(
        f"{u} ref={r['ref']} sub={r['sub']} del={r['del']} ins={r['ins']} wer={r['wer']:.2f}\n"
        for u, r in result["per_utt"].items()))
    write_text(out_dir / "per_spk", "".join(
        f"{s} ref={r['ref']} sub={r['sub']} del={r['del']} ins={r['ins']} wer={r['wer']:.2f}\n"
        for s, r in result["per_spk"].items()))
    write_json(out_dir / "rtf.json", rtf)
    summary = {k: v for k, v in result.items() if k != "per_utt"}
    write_json(out_dir / "result.json", {**summary, **meta, "rtf": rtf})
    return {**summary, "rtf": rtf}
