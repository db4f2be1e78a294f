#!/usr/bin/env bash
# LM comparison on a finished recipe run: decode each model of --models (its $ckpt) on --sets with prefix beam
# search and each LM of --lms at each LM weight / word score pair of --weights, and write a Markdown table of
# WER (%), the run's greedy decode first, and one of each LM's vocabulary size and out-of-vocabulary rate (% of
# each set's reference words that are not among the LM's words, so no decode with it can produce them).
# Decodes go to exp/<model>/decode_<set>_lm_<lm>_w<weight>_s<score> and are skipped when they exist, so a wider
# grid reuses the narrower one's.
# Run from egs/synth/s0 after stage 3, e.g. with the LM of the training transcripts and the LM text stage 0 wrote:
#   asr-kd make-lm --text data/train/text --out data/lang/lm_train.arpa
#   asr-kd make-lm --corpus data/local/lm/corpus.txt --out data/lang/lm_corpus.arpa
#   local/lm_sweep.sh --lms "train=data/lang/lm_train.arpa corpus=data/lang/lm_corpus.arpa" --sets dev
set -euo pipefail
. ./path.sh

data=data
exp=exp
models="teacher"                 # experiment dirs under $exp
ckpt=avg.pt                      # checkpoint decoded in each
lms="recipe=data/lang/lm.arpa"   # NAME=ARPA pairs
weights="2.0:0"                  # LM_WEIGHT:WORD_SCORE pairs (the recipe decodes with 2.0:0)
sets="dev test test_unseen_engine"
beam_size=1000                   # as run.sh --lm-beam-size
out=                             # table file; empty: $exp/lm_sweep.md

. utils/parse_options.sh
out=${out:-$exp/lm_sweep.md}

rows=()
for model in $models; do
  for lm in $lms; do
    name=${lm%%=*} arpa=${lm#*=}
    [ -f "$arpa" ] || { echo "$0: no ARPA file $arpa (--lms $lm)" >&2; exit 1; }
    for ws in $weights; do
      w=${ws%%:*} s=${ws#*:}
      for set in $sets; do
        dir=$exp/$model/decode_${set}_lm_${name}_w${w}_s${s}
        [ -f $dir/result.json ] && continue
        asr-kd decode --checkpoint $exp/$model/$ckpt --data $data/$set --out $dir --device cpu --num-threads 1 \
          --decoder beam --beam-size $beam_size --lm $arpa --lm-weight $w --word-score $s > /dev/null
      done
      rows+=("$model $name $w $s")
    done
  done
done

python3 - "$exp" "$out" "$sets" "$data" "$lms" "${rows[@]}" <<'PY'
import json, sys
from pathlib import Path

from asr_kd.data.kaldi_dir import read_table
from asr_kd.lm import arpa_words

exp, out, sets, data, lms, rows = (Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(), Path(sys.argv[4]),
                                   sys.argv[5].split(), sys.argv[6:])

def wer(d):
    f = exp / d / "result.json"
    return f"{json.loads(f.read_text())['wer']:.2f}" if f.exists() else "-"

lines = ["| model | LM | LM weight | word score | " + " | ".join(f"{s} WER" for s in sets) + " |",
         "|---" * (4 + len(sets)) + "|"]
for model in dict.fromkeys(r.split()[0] for r in rows):
    lines.append(f"| {model} | (greedy) | | | " + " | ".join(wer(f"{model}/decode_{s}") for s in sets) + " |")
    for r in rows:
        m, name, w, s = r.split()
        if m == model:
            lines.append(f"| {m} | {name} | {w} | {s} | "
                         + " | ".join(wer(f"{m}/decode_{t}_lm_{name}_w{w}_s{s}") for t in sets) + " |")
refs = {s: " ".join(read_table(data / s / "text").values()).split() for s in sets}
lines += ["", "| LM | words | " + " | ".join(f"{s} OOV (%)" for s in sets) + " |", "|---" * (2 + len(sets)) + "|"]
for lm in lms:
    name, arpa = lm.split("=", 1)
    vocab = set(arpa_words(arpa))
    oov = [f"{100 * sum(w not in vocab for w in refs[s]) / max(len(refs[s]), 1):.2f}" for s in sets]
    lines.append(f"| {name} | {len(vocab)} | " + " | ".join(oov) + " |")
out.write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
