#!/usr/bin/env python3
"""Decode every variant of a teacher sweep (local/teacher_sweep.sh) greedily and print one Markdown table:
WER per set, the worst test speaker, epochs reached of those asked, training time and speed."""

import argparse
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml


def checkpoint_of(exp: Path) -> Path | None:
    """The variant's model: final.pt (the model after its last finished epoch), or None before the first."""
    return exp / "final.pt" if (exp / "final.pt").exists() else None


def decode(ckpt: Path, data: Path, out: Path, device: str) -> dict:
    """result.json of a greedy decode of `data` with `ckpt` (reused when already there for this checkpoint)."""
    result = out / "result.json"
    if not (result.exists() and json.loads(result.read_text())["checkpoint"] == str(ckpt)):
        out.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{out.name}.log", "w") as log:
            subprocess.run(["asr-kd", "decode", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out),
                            "--device", device], check=True, stdout=log, stderr=log)
    return json.loads(result.read_text())


def settings(exp: Path) -> str:
    """The variant's size and optimisation from its train.yaml: `d144x8 b4000 lr0.002 e6` for a Conformer,
    `h192x3 ...` for an RNN, then ` kd0.5 T1` when it learns from a teacher."""
    conf = yaml.safe_load((exp / "train.yaml").read_text())
    model, train, kd = conf["model_conf"], conf["train_conf"], conf.get("kd_conf")
    width = f"d{model['d_model']}" if "d_model" in model else f"h{model['hidden_size']}"
    return (f"{width}x{model['num_layers']} b{train['max_frames_per_batch']} lr{train['lr']:g} e{train['epochs']}"
            + (f" kd{kd['weight']:g} T{kd['temperature']:g}" if kd else ""))


def row(name: str, train_set: str, exp: Path, results: dict[str, dict] | None) -> str:
    """One table row for a variant from its decodes (None: it finished no epoch)."""
    if results is None:
        return f"| {name} | {train_set} | {settings(exp)} | no epoch finished |"
    wers = [f"{r['wer']:.2f}" for r in results.values()]
    worst = max(results["test"]["per_spk"].items(), key=lambda kv: kv[1]["wer"]) if "test" in results else ("", {})
    done = len(list(exp.glob("epoch_*.pt")))
    summary = exp / "train_summary.json"  # written only when training ran to its end
    time_cells = ("{train_seconds:.0f} | {x_real_time:.0f}".format(**json.loads(summary.read_text()))
                  if summary.exists() else f"stopped after epoch {done} |")
    params = next(iter(results.values()))["params"] / 1e6
    return (f"| {name} | {train_set} | {settings(exp)} | {params:.2f}M | {done} | " + " | ".join(wers)
            + f" | {worst[0]} {worst[1].get('wer', 0):.1f} | {time_cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp", type=Path, required=True, help="the sweep's folder (one dir per variant)")
    parser.add_argument("--grid", type=Path, required=True, help="lines `NAME TRAIN_SET [key=value ...]`")
    parser.add_argument("--data", type=Path, required=True, help="folder of the data dirs")
    parser.add_argument("--sets", nargs="+", default=["dev", "test", "test_unseen_engine"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--parallel", type=int, default=1, help="decodes run at once")
    args = parser.parse_args()
    print("| variant | train set | model, batch, lr, epochs | params | epochs done | " + " | ".join(args.sets)
          + " | worst test speaker | train s | x real time |")
    print("|---" * (len(args.sets) + 8) + "|")
    variants = [line.split() for line in args.grid.read_text().splitlines()]
    ckpts = {v[0]: checkpoint_of(args.exp / v[0]) for v in variants}
    jobs = {(name, s): (ckpt, args.data / s, args.exp / name / f"decode_{s}", args.device)
            for name, ckpt in ckpts.items() if ckpt is not None for s in args.sets}
    with ThreadPoolExecutor(args.parallel) as pool:  # decodes are separate processes
        futures = {key: pool.submit(decode, *job) for key, job in jobs.items()}
        results = {key: f.result() for key, f in futures.items()}
    for name, train_set, *_ in variants:
        decoded = {s: results[name, s] for s in args.sets} if ckpts[name] is not None else None
        print(row(name, train_set, args.exp / name, decoded))
    stopped = any(not (args.exp / name / "train_summary.json").exists() for name in ckpts)
    print("\nGreedy WER (%) of final.pt" + (" (where training was stopped: the model after its last finished "
          "epoch, before its learning rate had decayed)" if stopped else "") + f", decoded on {args.device}; "
          f"grid: {args.grid}.")


if __name__ == "__main__":
    main()
