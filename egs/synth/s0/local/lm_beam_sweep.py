#!/usr/bin/env python3
"""Accuracy and speed of the beam search with the LM (flashlight's lexicon decoder, as the recipe's `_lm`
decodes run it) over a grid of beam size x beam threshold x LM weight. The model runs once per utterance on
1 CPU thread; each grid point then searches the stored logits, so its time is the search's alone. Prints a
Markdown table: WER (%) and search seconds per set.

  local/lm_beam_sweep.py --checkpoint exp/teacher/avg.pt --sets dev test --grid 50:50:2.0 1000:15:2.0
"""

import argparse
import sys
import time
from pathlib import Path

from asr_kd.data.audio import AudioError, load_utterance
from asr_kd.data.kaldi_dir import DataDirError, load_data_dir
from asr_kd.lm import LMDecoder
from asr_kd.recognizer import Recognizer
from asr_kd.scoring import score


def grid_point(text: str) -> tuple[int, float, float]:
    """'BEAM:THRESHOLD:WEIGHT' -> (beam size, beam threshold, LM weight)."""
    try:
        beam, threshold, weight = text.split(":")
        return int(beam), float(threshold), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected BEAM:THRESHOLD:WEIGHT, e.g. 1000:15:2.0") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="model checkpoint, e.g. exp/teacher/avg.pt")
    parser.add_argument("--sets", nargs="+", default=["dev"], help="data dirs under --data (default: dev)")
    parser.add_argument("--data", default="data", help="folder of the data dirs and lang/ (default: %(default)s)")
    parser.add_argument("--lm", default=None, help="ARPA LM (default: DATA/lang/lm.arpa)")
    parser.add_argument("--grid", nargs="+", type=grid_point, default=[(50, 15.0, 2.0)],
                        help="BEAM:THRESHOLD:WEIGHT points, one row each (default: 50:15:2.0)")
    args = parser.parse_args()
    try:
        rows = sweep(args)
    except (DataDirError, AudioError, OSError, RuntimeError, ValueError) as e:
        print(f"lm_beam_sweep.py: error: {e}", file=sys.stderr)
        return 1
    print("| beam | threshold | LM weight | " + " | ".join(f"{s} WER | {s} search (s)" for s in args.sets) + " |")
    print("|---|---|---|" + "---|---|" * len(args.sets))
    for (beam, threshold, weight), cells in rows:
        print(f"| {beam} | {threshold:g} | {weight:g} | "
              + " | ".join(f"{wer:.2f} | {seconds:.1f}" for wer, seconds in cells) + " |")
    return 0


def sweep(args: argparse.Namespace) -> list:
    """[(grid point, [(WER, search seconds) per set])]."""
    rec = Recognizer.from_checkpoint(args.checkpoint, num_threads=1)
    lm = args.lm or str(Path(args.data) / "lang" / "lm.arpa")
    sets = []
    for name in args.sets:
        utts = load_data_dir(Path(args.data) / name)
        logits = [rec.logits(rec.features(load_utterance(u), f"utterance {u.utt}")).float().numpy()
                  for u in utts]  # (T', V) each
        sets.append((utts, logits))
    rows = []
    for beam, threshold, weight in args.grid:
        search = LMDecoder(rec.units, lm, beam_size=beam, lm_weight=weight, beam_threshold=threshold)
        cells = []
        for utts, logits in sets:
            start = time.perf_counter()
            hyps = {u.utt: rec.result(*search(x)).text for u, x in zip(utts, logits)}  # as CtcDecoder with an LM
            seconds = time.perf_counter() - start
            result = score({u.utt: u.text for u in utts}, hyps, {u.utt: u.spk for u in utts})
            cells.append((result["wer"], seconds))
        rows.append(((beam, threshold, weight), cells))
    return rows


if __name__ == "__main__":
    sys.exit(main())
