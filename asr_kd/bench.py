"""RTF benchmark: checkpoints x devices x thread counts x batch sizes x precisions on one data dir.
RTF is split into features / model / decoding, the first batch is a warm-up, each figure is the
median of `repeats` passes; audio is read once, before timing. Edge-CPU mode: 1 thread pinned to
one core, as on a small board."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
from pathlib import Path

import numpy as np
import torch

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.fileio import write_json, write_text
from asr_kd.machine import cpu_model
from asr_kd.models import num_params
from asr_kd.recognizer import Recognizer
from asr_kd.scoring import StageTimer

GPU_PRECISIONS = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _valid(device: str, precision: str) -> bool:
    """int8 dynamic quantisation is CPU-only; fp16/bf16 autocast is measured on GPUs only."""
    return precision == "fp32" or (precision == "int8") == device.startswith("cpu")


def _one_pass(rec: Recognizer, waves: list[np.ndarray], batch_size: int, precision: str) -> dict[str, float]:
    """Seconds per stage for one pass over `waves`, `batch_size` utterances per model call."""
    timer = StageTimer(rec.device)
    autocast = (torch.autocast("cuda", dtype=GPU_PRECISIONS[precision]) if precision in GPU_PRECISIONS
                else contextlib.nullcontext())
    for k in range(0, len(waves), batch_size):
        feats = [timer.time("features", rec.features, w) for w in waves[k : k + batch_size]]
        with torch.inference_mode(), autocast:
            if batch_size == 1:
                logits = [timer.time("model", rec.logits, feats[0])]
            else:  # one padded batch through the model (no windows: bench utterances are short)
                x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)  # (B, T, F)
                lens = torch.tensor([len(f) for f in feats], device=rec.device)
                out, out_lens = timer.time("model", rec.model, x, lens)  # (B, T', V)
                logits = [out[i, :n] for i, n in enumerate(out_lens.tolist())]
        for lg in logits:
            timer.time("decoding", rec.decode, lg.float())
    return dict(timer.seconds)


def bench(checkpoints: list[str], data_dir: str, out_dir: str, devices=("cpu",), threads=(1,), batch_sizes=(1,),
          precisions=("fp32",), repeats: int = 3, max_utts: int = 0, pin_core: int | None = None) -> list[dict]:
    """Run every valid combination; write out_dir/bench.json and bench.md; return the rows."""
    if pin_core is not None:
        os.sched_setaffinity(0, {pin_core})
    utts = load_data_dir(data_dir)[: max_utts or None]
    waves = [load_utterance(u) for u in utts]
    audio_seconds = sum(len(w) for w in waves) / 16000
    rows = []
    for ckpt in checkpoints:
        for device in devices:
            for precision in precisions:
                if not _valid(device, precision):
                    continue
                for n_threads in threads:
                    rec = Recognizer.from_checkpoint(ckpt, device=device, num_threads=n_threads,
                                                     precision="int8" if precision == "int8" else "fp32")
                    for batch_size in batch_sizes:
                        _one_pass(rec, waves[:batch_size], batch_size, precision)  # warm-up
                        passes = [_one_pass(rec, waves, batch_size, precision) for _ in range(repeats)]
                        med = {s: statistics.median(p.get(s, 0.0) for p in passes) for s in ("features", "model", "decoding")}
                        rows.append({
                            "checkpoint": str(ckpt), "params": num_params(rec.model), "device": str(rec.device),
                            "threads": torch.get_num_threads(), "batch_size": batch_size, "precision": precision,
                            "rtf_total": sum(med.values()) / audio_seconds,
                            **{f"rtf_{s}": v / audio_seconds for s, v in med.items()},
                            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                        })
    env = {"cpu": cpu_model(), "machine": platform.machine(), "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
           "pinned_core": pin_core, "data": str(data_dir), "utterances": len(waves),
           "audio_seconds": round(audio_seconds, 2), "repeats": repeats, "statistic": "median",
           "warmup": "one batch per setting, untimed", "excluded": "audio file reading"}
    write_json(Path(out_dir) / "bench.json", {"env": env, "rows": rows})
    write_text(Path(out_dir) / "bench.md", bench_table(env, rows))
    return rows


def bench_table(env: dict, rows: list[dict]) -> str:
    """Markdown: settings line, then one row per measured combination."""
    lines = [f"{env['utterances']} utterances ({env['audio_seconds']} s) of `{env['data']}`; CPU {env['cpu']}"
             + (f", GPU {env['gpu']}" if env["gpu"] else "") + f"; torch {env['torch']}; median of {env['repeats']} "
             f"passes after a warm-up" + (f"; pinned to core {env['pinned_core']}" if env["pinned_core"] is not None else "")
             + ". Peak RSS is the process's so far (it only grows).", "",
             "| model | params | device | precision | threads | batch | RTF total | features | model | decoding | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = Path(r["checkpoint"]).parent.name or r["checkpoint"]
        lines.append(f"| {name} | {r['params'] / 1e6:.2f}M | {r['device']} | {r['precision']} | {r['threads']} | "
                     f"{r['batch_size']} | {r['rtf_total']:.4f} | {r['rtf_features']:.4f} | {r['rtf_model']:.4f} | "
                     f"{r['rtf_decoding']:.4f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"
