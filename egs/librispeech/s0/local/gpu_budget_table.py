#!/usr/bin/env python3
"""The resources table of local/gpu_budget.sh: per preset the measured speed (x real time), peak GPU and
host memory, and the GPU-hours its epochs take on --hours of audio per epoch; the teacher cache pass; disk
for the feature cache, the teacher cache and the checkpoints, scaled from the measured set to --hours."""

import argparse
import json
from pathlib import Path

import yaml

MODELS = (("teacher", "teacher.yaml"), ("student_ctc", "student.yaml"), ("student_kd", "student_kd.yaml"))


def size_gb(path: Path) -> float:
    """Bytes of the file `path`, or of the files under the folder `path`, in GB (10^9)."""
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files) / 1e9


def rows(exp: Path, conf: Path, hours: float) -> tuple[list[str], float]:
    """Table lines for the three presets and the teacher cache; returns them and the measured set's hours."""
    lines, gpu_hours = [], 0.0
    measured_hours = None
    for name, yaml_name in MODELS:
        s = json.loads((exp / name / "train_summary.json").read_text())
        epochs = yaml.safe_load((conf / yaml_name).read_text())["train_conf"]["epochs"]
        measured_hours = s["audio_hours_per_epoch"]
        h = hours * epochs / s["x_real_time"]
        gpu_hours += h
        gpu = "-" if s["peak_gpu_memory_gib"] is None else f"{s['peak_gpu_memory_gib']:.1f}"
        lines.append(f"| {name} | {s['params'] / 1e6:.1f}M | {s['steps']} steps, {s['audio_hours_trained']:.1f} h "
                     f"| {s['x_real_time']:,.0f}x | {gpu} | {s['peak_host_rss_gib']:.1f} | {epochs} | {h:.1f} |")
    seconds = float((exp / "teacher" / "cache_train" / "seconds").read_text())
    speed = measured_hours * 3600 / seconds
    cache_h = hours / speed
    gpu_hours += cache_h
    lines.append(f"| teacher cache (dump-teacher) | | 1 pass, {measured_hours:.1f} h | {speed:,.0f}x | | | 1 "
                 f"| {cache_h:.1f} |")
    lines.append(f"| **all** | | | | | | | **{gpu_hours:.1f}** |")
    return lines, measured_hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp", type=Path, required=True, help="local/gpu_budget.sh's --exp")
    parser.add_argument("--conf", type=Path, required=True, help="the presets' folder")
    parser.add_argument("--data", type=Path, required=True, help="the measured training set")
    parser.add_argument("--hours", type=float, default=100.6, help="audio per epoch to budget for")
    a = parser.parse_args()
    lines, measured = rows(a.exp, a.conf, a.hours)
    scale = a.hours / measured
    device = json.loads((a.exp / "teacher" / "train_summary.json").read_text())["device"]
    print(f"Measured on {measured:.2f} h of {a.data} ({device}); budget for {a.hours:g} h per epoch.\n")
    print("| model | params | measured | speed | peak GPU GiB | peak host GiB | epochs | GPU-hours |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    feats = size_gb(a.data / "feats.npy") * scale
    cache = size_gb(a.exp / "teacher" / "cache_train") * scale
    ckpt = {n: size_gb(a.exp / n / "final.pt") for n, _ in MODELS}
    state = size_gb(a.exp / "teacher" / "last_state.pt")
    print(f"\nDisk for {a.hours:g} h: feature cache {feats:.1f} GB, teacher cache (top-k) {cache:.2f} GB; "
          f"per epoch kept for averaging: teacher {ckpt['teacher'] * 1000:.0f} MB, students "
          f"{ckpt['student_ctc'] * 1000:.0f} MB; resumable state of the teacher {state * 1000:.0f} MB.")


if __name__ == "__main__":
    main()
