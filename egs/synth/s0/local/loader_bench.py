#!/usr/bin/env python3
"""Training data loader alone, without a model: utterances and seconds of audio per wall second from the
feature cache and computed on the fly from the audio, with 0 / 2 / 4 ... loader workers, to compare with
a training step's speed (is the loader the bottleneck on a GPU?). Prints a Markdown table, writes JSON."""

import argparse
import json
import os
import time
from pathlib import Path

import torch

from asr_kd.config import FeatureConfig
from asr_kd.data.dataset import FeatureDataset, LengthBucketSampler, make_loader
from asr_kd.data.tokens import Units
from asr_kd.machine import cpu_model


def measure(data: FeatureDataset, max_frames: int, workers: int, batches: int) -> dict:
    """Read `batches` batches after a first one (which starts the workers) -> speeds; the few batches the
    workers prefetch during that first one count, so time many more than workers x prefetch."""
    sampler = LengthBucketSampler([data.num_frames(i) for i in range(len(data))], max_frames, seed=0)
    batches = min(batches, len(sampler) - 1)  # a small data dir has fewer
    loader = iter(make_loader(data, sampler, workers))
    next(loader)
    t0, utts, frames = time.perf_counter(), 0, 0
    for _ in range(batches):
        items = next(loader)
        utts, frames = utts + len(items), frames + sum(len(f) for _, f, _ in items)
    seconds = time.perf_counter() - t0
    return {"workers": workers, "batches": batches, "utts_per_s": utts / seconds,
            "x_real_time": frames * FeatureConfig().frame_shift_ms / 1000 / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="training data dir (with a feature cache for the cache rows)")
    parser.add_argument("--units", required=True, help="units.txt")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--batches", type=int, default=60, help="batches timed per setting")
    parser.add_argument("--max-frames", type=int, default=16000, help="padded frames per batch")
    parser.add_argument("--out", type=Path, help="also write the rows here as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the reading process on one thread; torch gives each worker one too
    units = Units.read(args.units)
    rows = []
    for mode, on_the_fly in (("cache", None), ("on the fly", FeatureConfig())):
        data = FeatureDataset(args.data, units, on_the_fly=on_the_fly)
        rows += [{"mode": mode, **measure(data, args.max_frames, w, args.batches)} for w in args.workers]
    print(f"Loader alone on `{args.data}`: {cpu_model()}, {os.cpu_count()} CPUs; batches of {args.max_frames} "
          f"padded frames; each row times its batches after a first one that starts the workers.\n")
    print("| features | workers | batches | utterances/s | x real time |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['workers']} | {r['batches']} | {r['utts_per_s']:.1f} | {r['x_real_time']:.0f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
