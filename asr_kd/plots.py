"""PNG plots (matplotlib, no display needed): WER vs RTF across models and precisions, training
curves from metrics.jsonl, and teacher vs student CTC posteriors over one utterance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from asr_kd.fileio import atomic_path


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    pyplot().close(fig)


def wer_vs_rtf(decode_dirs: list[str | Path], path: str | Path) -> None:
    """One point per decode dir (its result.json): WER against total RTF, log-scale RTF."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    markers = "osD^v<>ph*X"
    for i, d in enumerate(map(Path, decode_dirs)):
        r = json.loads((d / "result.json").read_text())
        ax.scatter(r["rtf"]["rtf_total"], r["wer"], marker=markers[i % len(markers)], label=f"{d.parent.name}/{d.name}")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_xscale("log")
    ax.set_xlabel("RTF (total, lower is faster)")
    ax.set_ylabel("WER (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)


def training_curves(exp_dirs: list[str | Path], path: str | Path) -> None:
    """Training loss per step and dev CER per epoch of each experiment (log/metrics.jsonl)."""
    plt = pyplot()
    fig, (loss_ax, cer_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for e in map(Path, exp_dirs):
        recs = [json.loads(line) for line in (e / "log" / "metrics.jsonl").read_text().splitlines() if line]
        steps = [r for r in recs if "loss" in r]
        dev = [r for r in recs if "dev_cer" in r]
        loss_ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], label=e.name, lw=0.8)
        cer_ax.plot([r["epoch"] for r in dev], [100 * r["dev_cer"] for r in dev], marker="o", label=e.name)
    loss_ax.set(xlabel="step", ylabel="training loss", yscale="log")
    cer_ax.set(xlabel="epoch", ylabel="dev CER (%), greedy")
    for ax in (loss_ax, cer_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def posterior_spikes(teacher_ckpt: str | Path, student_ckpt: str | Path, audio: str | Path, path: str | Path) -> None:
    """Per 40 ms frame, each model's non-blank posterior mass and the argmax symbol where it spikes."""
    from asr_kd.data.audio import load_audio
    from asr_kd.recognizer import Recognizer

    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(12, 5), sharex=True)
    wave = load_audio(str(audio))
    for ax, ckpt in zip(axes, (teacher_ckpt, student_ckpt)):
        rec = Recognizer.from_checkpoint(ckpt)
        logits = rec.logits(rec.features(wave))  # (T', V)
        probs = logits.softmax(-1).numpy()
        nonblank = 1.0 - probs[:, 0]
        t = np.arange(len(probs)) * rec.frame_seconds
        ax.plot(t, nonblank, lw=0.8)
        for i in np.flatnonzero(probs.argmax(-1) != 0):
            sym = rec.units.symbols[probs[i].argmax()]
            ax.annotate("␣" if sym == "<space>" else sym, (t[i], nonblank[i]), fontsize=7, ha="center")
        ax.set(ylabel="1 - P(blank)", ylim=(0, 1.1), title=f"{Path(ckpt).parent.name}: {rec.decode(logits).text}")
        ax.title.set_fontsize(8)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    save_png(fig, path)

