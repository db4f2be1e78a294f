"""Results tables (Markdown) from experiment directories' decode_<set>/result.json files."""

from __future__ import annotations

import json
from pathlib import Path


def _load(exp: Path, name: str) -> dict | None:
    path = exp / name
    return json.loads(path.read_text()) if path.exists() else None


def results_table(exps: list[str | Path], sets: list[str], rtf_set: str, gap: bool = False) -> str:
    """Markdown: one row per experiment (WER/CER per set, greedy and, where decoded, beam + LM;
    params, RTF on `rtf_set`), then
    per-speaker WER on each set so that unseen voices stay visible. With `gap`, the first
    experiment is the CTC-only student and the last the teacher, and each row gets the fraction of
    their WER gap it recovers on every set: (WER_first - WER_row) / (WER_first - WER_last)."""
    exps = [Path(e) for e in exps]
    res = {(e, s): _load(e, f"decode_{s}/result.json") for e in exps for s in sets}
    missing = [f"{e}/decode_{s}" for (e, s), r in res.items() if r is None]
    if missing:
        raise FileNotFoundError(f"no result.json in: {', '.join(missing)}")
    rtf0 = res[(exps[0], rtf_set)]["rtf"]
    lm = {(e, s): _load(e, f"decode_{s}_lm/result.json") for e in exps for s in sets}
    lm_sets = [s for s in sets if all(lm[(e, s)] for e in exps)]  # beam + LM decodes, where every model has one
    head = (["model", "params"] + [f"{s} WER" for s in sets] + [f"{s} WER beam+LM" for s in lm_sets]
            + [f"{s} CER" for s in sets]
            + ["RTF total", "RTF model", "train time (s)"] + ([f"{s} gap recovered" for s in sets] if gap else []))
    lines = [
        f"RTF on `{rtf_set}`: {rtf0['device']}, {rtf0['threads']} thread(s), batch {rtf0['batch_size']}, "
        f"{rtf0['cpu']}, torch {rtf0['torch']}; total = features + model + greedy decoding, "
        "audio reading excluded, first utterance as warm-up. WER columns: greedy decoding (`decode_<set>`)"
        + (", and prefix beam search with the word n-gram LM (`decode_<set>_lm`)" if lm_sets else "") + ".",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for e in exps:
        rtf = res[(e, rtf_set)]["rtf"]
        summary = _load(e, "train_summary.json") or {}
        params = res[(e, sets[0])]["params"]  # None for peers whose size we do not count
        cells = ([e.name, f"{params / 1e6:.2f}M" if params else "-"]
                 + [f"{res[(e, s)]['wer']:.2f}" for s in sets] + [f"{lm[(e, s)]['wer']:.2f}" for s in lm_sets]
                 + [f"{res[(e, s)]['cer']:.2f}" for s in sets]
                 + [f"{rtf['rtf_total']:.4f}", f"{rtf['rtf_model']:.4f}", str(summary.get("train_seconds", "-"))]
                 + ([_gap(res, exps, e, s) for s in sets] if gap else []))
        lines.append("| " + " | ".join(cells) + " |")
    for s in sets:
        spks = sorted(res[(exps[0], s)]["per_spk"])
        lines += ["", f"Per-speaker WER (%) on `{s}`:", "",
                  "| speaker | " + " | ".join(e.name for e in exps) + " |", "|---|" + "---|" * len(exps)]
        for spk in spks:
            lines.append(f"| {spk} | " + " | ".join(f"{res[(e, s)]['per_spk'][spk]['wer']:.2f}" for e in exps) + " |")
    return "\n".join(lines) + "\n"


def _gap(res: dict, exps: list[Path], e: Path, s: str) -> str:
    base, top = res[(exps[0], s)]["wer"], res[(exps[-1], s)]["wer"]
    return f"{(base - res[(e, s)]['wer']) / (base - top):.0%}" if base != top else "-"
