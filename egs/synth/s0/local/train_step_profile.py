#!/usr/bin/env python3
"""Where a training step's CPU time goes: one preset (with --set overrides) on a synthetic batch of
--batch-frames fbank frames, forward + CTC + backward + AdamW as `asr-kd train` runs them (bf16 autocast
when the preset's cpu_amp is on and the CPU has native bf16). Prints the step time and the operators that
take the most self CPU time (torch.profiler), e.g. how much of a Conformer step dropout's random masks
(aten::bernoulli_) cost on a CPU. Prints Markdown; no data needed."""

import argparse
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from asr_kd.config import ExperimentConfig
from asr_kd.losses import ctc_loss
from asr_kd.machine import cpu_model
from asr_kd.models import build_model, num_params
from asr_kd.train import bf16_autocast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. conf/teacher.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one YAML value, as `asr-kd train --set` (repeatable)")
    parser.add_argument("--batch-frames", type=int, default=4000, help="10 ms frames per batch (max_frames_per_batch)")
    parser.add_argument("--utt-frames", type=int, default=500, help="frames per utterance (5 s)")
    parser.add_argument("--vocab", type=int, default=32, help="output units (characters)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps, after two warm-up steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=8, help="operators listed")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conf = ExperimentConfig.load(args.config, args.set)
    model = build_model(conf.model, conf.model_conf, conf.feature_conf.num_mel_bins, args.vocab).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=conf.train_conf.lr)
    amp = bf16_autocast(conf.train_conf, torch.device("cpu"))
    batch = max(1, args.batch_frames // args.utt_frames)
    feats = torch.randn(batch, args.utt_frames, conf.feature_conf.num_mel_bins)  # (B, T, F)
    feat_lens = torch.full((batch,), args.utt_frames)
    targets = torch.randint(2, args.vocab, (batch, args.utt_frames // 12))  # (B, U): ~8 units a second
    target_lens = torch.full((batch,), targets.shape[1])

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits, lens = model(feats, feat_lens)  # (B, T', V), (B,)
        ctc_loss(logits, lens, targets, target_lens).backward()
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - t0) / args.steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)

    print(f"`{args.config}` {' '.join(args.set)}: {num_params(model) / 1e6:.2f}M params, {cpu_model()}, "
          f"{args.threads} threads, {'bf16 autocast' if amp else 'float32'}, batch {batch} x {args.utt_frames} "
          f"frames: **{seconds:.3f} s per step** (mean of {args.steps}, {os.cpu_count()} CPUs)\n")
    print("| operator | self CPU share |\n|---|---|")
    for e in ops[: args.top]:
        print(f"| {e.key} | {100 * e.self_cpu_time_total / total:.1f}% |")


if __name__ == "__main__":
    main()
