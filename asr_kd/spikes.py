"""Spike-timing diagnostic: how many 40 ms frames later (or earlier) the student emits each token
than the teacher, both force-aligned to the reference transcript. Frame-level KD pushes a student
towards spikes it may not be able to produce; this shows by how much."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr_kd.align import FRAME_SECONDS
from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.decoding import align_tokens
from asr_kd.fileio import write_json
from asr_kd.plots import pyplot, save_png


def token_offsets(teacher, student, data_dir: str | Path, max_utts: int = 0) -> list[int]:
    """Per token: student spike start frame minus teacher spike start frame (both Recognizers)."""
    offsets = []
    utts = load_data_dir(data_dir)
    for utt in tqdm(utts[:max_utts] if max_utts else utts, desc="spikes", unit="utt"):
        wave = load_utterance(utt)
        ids = teacher.units.encode(utt.text)
        t_logits = teacher.logits(teacher.features(wave))
        s_logits = student.logits(student.features(wave))
        if not ids or t_logits.shape[0] < 2 * len(ids) or s_logits.shape[0] < 2 * len(ids):
            continue  # too short to align reliably
        t_spans, s_spans = align_tokens(t_logits, ids), align_tokens(s_logits, ids)
        offsets += [s.start - t.start for s, t in zip(s_spans, t_spans)]
    return offsets


def summarise(offsets: list[int]) -> dict:
    a = np.array(offsets)
    return {
        "tokens": len(a), "mean_frames": float(a.mean()), "median_frames": float(np.median(a)),
        "std_frames": float(a.std()), "frame_seconds": FRAME_SECONDS,
        "within_1_frame": float((np.abs(a) <= 1).mean()), "within_2_frames": float((np.abs(a) <= 2).mean()),
        "histogram": {str(k): v for k, v in sorted(Counter(a.clip(-10, 10).tolist()).items())},
    }


def plot_histogram(offsets: list[int], path: str | Path, title: str) -> None:
    """PNG histogram of offsets, clipped to [-10, 10] frames."""
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    ax.hist(np.clip(offsets, -10, 10), bins=np.arange(-10.5, 11.5, 1.0), color="tab:blue", edgecolor="white")
    ax.set_xlabel("student spike - teacher spike (40 ms frames, clipped to ±10)")
    ax.set_ylabel("tokens")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def spikes_report(teacher_ckpt, student_ckpt, data_dir, out_dir, max_utts: int = 0) -> dict:
    """Write out_dir/{spikes.json, spikes.png}; returns the summary."""
    from asr_kd.recognizer import Recognizer

    teacher, student = Recognizer.from_checkpoint(teacher_ckpt), Recognizer.from_checkpoint(student_ckpt)
    if teacher.units.symbols != student.units.symbols:
        raise ValueError("teacher and student units differ")
    offsets = token_offsets(teacher, student, data_dir, max_utts)
    if not offsets:
        raise ValueError(f"{data_dir}: no utterance long enough to align")
    summary = {**summarise(offsets), "teacher": str(teacher_ckpt), "student": str(student_ckpt), "data": str(data_dir)}
    write_json(Path(out_dir) / "spikes.json", summary)
    plot_histogram(offsets, Path(out_dir) / "spikes.png",
                   f"{Path(student_ckpt).parent.name} vs {Path(teacher_ckpt).parent.name}: "
                   f"mean {summary['mean_frames']:+.2f} frames, {100 * summary['within_1_frame']:.0f}% within ±1")
    return summary
