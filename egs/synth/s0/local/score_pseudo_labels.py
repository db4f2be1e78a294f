#!/usr/bin/env python3
"""Word error rate of pseudo-labels of the untranscribed audio (run.sh stage 5: data/train_unlab_pl/text):
train_unlab has no text, but what each utterance reads follows from the corpus plan (the installed text
sources and prepare-synth's --seed). Prints a Markdown table, one row per label file.

  local/score_pseudo_labels.py --unlab data/train_unlab data/train_unlab_pl/text [more label files]
"""

import argparse
import sys
from pathlib import Path

from asr_kd.data.kaldi_dir import DataDirError, read_table
from asr_kd.scoring import score as score_text
from data_prep.synth import load_text, unlab_texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labels", nargs="+", help="Kaldi text files of pseudo-labels (utterance id + words)")
    parser.add_argument("--unlab", default="data/train_unlab", help="the untranscribed data dir (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="prepare-synth's --seed (run.sh --seed; default: %(default)s)")
    args = parser.parse_args()
    try:
        return score(args)
    except DataDirError as e:
        print(f"score_pseudo_labels.py: error: {e}", file=sys.stderr)
        return 1


def score(args: argparse.Namespace) -> int:
    """Print the table; 1 when --unlab is not prepare-synth's untranscribed audio."""
    utt2spk = read_table(Path(args.unlab) / "utt2spk")
    utts = sorted(utt2spk)
    if not utts or "-unlab" not in utts[0]:
        print(f"{args.unlab}: no untranscribed utterances of prepare-synth (<spk>-unlab<k>)", file=sys.stderr)
        return 1
    refs = unlab_texts(load_text()[0], args.seed, utts)
    print("| labels | utterances | labelled | WER | CER |\n|---|---|---|---|---|")
    for path in args.labels:
        hyps = read_table(path)  # an utterance left out (empty hypothesis) scores as all deletions
        r = score_text(refs, hyps, utt2spk)  # as `asr-kd decode` scores
        print(f"| {path} | {len(utts)} | {len(hyps)} | {r['wer']:.2f} | {r['cer']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
