"""Decode a data directory with a checkpoint: hypotheses as Kaldi `text`, WER/CER, per-utterance
and per-speaker reports, and RTF split into features / model / decoding."""

from __future__ import annotations

import dataclasses
import json
import resource
from pathlib import Path

import torch
from tqdm import tqdm

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir, load_recordings, write_table
from asr_kd.fileio import write_json, write_text
from asr_kd.framing import ChunkConfig
from asr_kd.machine import cpu_model
from asr_kd.models import num_params
from asr_kd.recognizer import PAUSE_SECONDS, Recognizer
from asr_kd.scoring import StageTimer, kaldi_wer_line, score
from asr_kd.shards import check_shard, remove_shards, shard_dir, shard_dirs, shard_slice

WARMUP_SAMPLES = 10 * 16000  # warm-up audio: the first 10 s of the first utterance
HYPS = "hyps.json"
SETTINGS = ("batch_size", "chunking", "pause_seconds", "decoder", "beam_size", "precision", "lm", "lm_weight",
            "word_score", "excluded", "whole_recordings")  # rtf.json keys that shards of one decode share


def decode_data_dir(ckpt_path: str | Path, data_dir: str | Path, out_dir: str | Path, device: str = "cpu",
                    num_threads: int = 1, allow_pipes: bool = False, chunk: ChunkConfig | None = None,
                    whole_recordings: bool = False, pause_seconds: float = PAUSE_SECONDS, decoder: str = "greedy",
                    beam_size: int = 8, precision: str = "fp32", lm: str | None = None, lm_weight: float = 1.0,
                    word_score: float = 0.0, shard: tuple[int, int] | None = None) -> dict:
    """Decode every utterance of `data_dir` one at a time (batch 1) and write
    out_dir/{text, wer, per_utt, per_spk, rtf.json, result.json}; returns the result dict.
    The first utterance (at most its first 10 s: a whole recording must not be decoded twice) is
    decoded once untimed as warm-up; audio reading is not timed.
    With `whole_recordings`, each wav.scp recording is decoded whole (in windows) and scored
    against `reco2text`: the long-form evaluation. With `shard` (i, N), only shard i's utterances
    (recordings), into OUT/split<N>/<i>/ with the exact hypotheses in `hyps.json` (see `merge_decode`)."""
    rec = Recognizer.from_checkpoint(ckpt_path, device=device, num_threads=num_threads, chunk=chunk,
                                     pause_seconds=pause_seconds, decoder=decoder, beam_size=beam_size,
                                     precision=precision, lm=lm, lm_weight=lm_weight, word_score=word_score)
    utts = (load_recordings if whole_recordings else load_data_dir)(data_dir, allow_pipes=allow_pipes)
    if shard:
        utts, out_dir = shard_slice(utts, *shard), shard_dir(out_dir, *shard)
    timer = StageTimer(rec.device)
    hyps, audio_seconds = {}, 0.0
    for i, utt in enumerate(tqdm(utts, desc=f"decode {Path(data_dir).name}", unit="utt")):
        wave, what = load_utterance(utt, allow_pipes), f"utterance {utt.utt}"
        if i == 0:
            rec.decode(rec.logits(rec.features(wave[:WARMUP_SAMPLES], what)))  # warm-up, not timed
        audio_seconds += len(wave) / 16000
        feats = timer.time("features", rec.features, wave, what)
        logits = timer.time("model", rec.logits, feats)
        hyps[utt.utt] = timer.time("decoding", rec.decode, logits).text
    stages = dict(timer.seconds)
    rtf = {
        "rtf_total": sum(stages.values()) / audio_seconds,
        **{f"rtf_{k}": v / audio_seconds for k, v in stages.items()},
        "seconds": {"audio": audio_seconds, **stages},
        "audio_seconds": round(audio_seconds, 2), "utterances": len(utts), "batch_size": 1,
        "device": str(rec.device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": cpu_model(), "gpu": torch.cuda.get_device_name(rec.device) if rec.device.type == "cuda" else None,
        "chunking": dataclasses.asdict(rec.chunk), "pause_seconds": pause_seconds,
        "decoder": decoder, "beam_size": beam_size if decoder == "beam" else None, "precision": precision,
        "lm": str(lm) if lm else None, "lm_weight": lm_weight if lm else None,
        "word_score": word_score if lm else None, "warmup_utts": 1,
        "excluded": "audio file reading", "whole_recordings": whole_recordings,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    result = write_decode(out_dir, utts, hyps, rtf, {"checkpoint": str(ckpt_path), "data": str(data_dir),
                                                      "params": num_params(rec.model)})
    if shard:
        write_json(Path(out_dir) / HYPS, hyps)  # exact: `text` read back loses spaces at the ends
    return result


def merge_decode(data_dir: str | Path, out_dir: str | Path, n: int) -> dict:
    """Score the hypotheses of shards 1..n (`decode_data_dir(shard=...)` of `data_dir`) as one
    decode into OUT: text, wer, per_utt, per_spk and result.json's scores are those of an unsharded
    decode; rtf.json sums the shards' timed seconds and audio (RTF = total time / total audio).
    Deletes the shards; refused if one is missing, does not hold exactly its utterances, or was
    decoded with other settings or another checkpoint."""
    dirs = shard_dirs(out_dir, n, HYPS)
    rtfs = [json.loads((d / "rtf.json").read_text()) for d in dirs]
    metas = [json.loads((d / "result.json").read_text()) for d in dirs]
    for i, (rtf, meta) in enumerate(zip(rtfs, metas), 1):
        differ = [k for k in SETTINGS if rtf.get(k) != rtfs[0].get(k)]
        differ += [k for k in ("checkpoint", "data") if meta[k] != metas[0][k]]
        if differ:
            raise ValueError(f"{dirs[i - 1]}: decoded with other {', '.join(differ)} than shard 1; rerun the shard "
                             "jobs with the same options")
    load = load_recordings if rtfs[0]["whole_recordings"] else load_data_dir
    utts, hyps = load(data_dir, allow_pipes=True), {}  # pipes are only listed, not run
    ids = [u.utt for u in utts]
    for i, d in enumerate(dirs, 1):
        shard_hyps = json.loads((d / HYPS).read_text(encoding="utf-8"))
        check_shard(out_dir, i, n, shard_slice(ids, i, n), list(shard_hyps))
        hyps.update(shard_hyps)
    seconds = {k: sum(r["seconds"][k] for r in rtfs) for k in rtfs[0]["seconds"]}
    audio = seconds.pop("audio")
    rtf = {**rtfs[0], "rtf_total": sum(seconds.values()) / audio, **{f"rtf_{k}": v / audio for k, v in seconds.items()},
           "seconds": {"audio": audio, **seconds}, "audio_seconds": round(audio, 2), "shards": n,
           "utterances": sum(r["utterances"] for r in rtfs), "warmup_utts": sum(r["warmup_utts"] for r in rtfs),
           "peak_rss_mb": max(r["peak_rss_mb"] for r in rtfs)}
    for k in ("device", "threads", "torch", "cpu", "gpu"):  # where shards ran on different machines
        values = list(dict.fromkeys(r[k] for r in rtfs))
        rtf[k] = values[0] if len(values) == 1 else " / ".join(map(str, values))
    result = write_decode(out_dir, utts, hyps, rtf, {k: metas[0][k] for k in ("checkpoint", "data", "params")})
    remove_shards(out_dir, n, ("text", "wer", "per_utt", "per_spk", "rtf.json", "result.json", HYPS))
    return result


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
