#!/usr/bin/env bash
# Long-form check: one recording each of 10, 30 and 60 minutes (test speakers, unseen sentences,
# pauses between utterances). Each model decodes every recording whole in windows (memory bounded
# by the window) and, for comparison, segment by segment; the teacher also tries one window holding
# the whole file (full attention) under a virtual-memory cap. Writes $out/long_form.md.
# Run from egs/synth/s0 after the recipe:  local/long_form.sh [--exp exp] [--minutes "10 30 60"]
set -euo pipefail
. ./path.sh

exp=exp                    # trained models: $exp/<model>/final.pt
out=exp/long_form          # where to write
minutes="10 30 60"         # recording lengths
models="student_kd teacher"
mem_cap_gb=22              # virtual-memory cap for the whole-file (unwindowed) teacher pass
unwindowed_minutes="10 30" # lengths for that pass (its time grows with the square of the length)

. utils/parse_options.sh

for m in $minutes; do
  d=$out/data_${m}min
  if [ ! -f $d/.done ]; then
    asr-kd prepare-synth --out $d --hours 0.001 --eval-utts-per-spk 1 --long-recordings 1 --long-minutes $m,$m
    touch $d/.done
  fi
  for model in $models; do
    for mode in whole segments; do
      flag=""; [ $mode = whole ] && flag=--whole-recordings
      [ -f $out/$model/decode_${m}min_$mode/result.json ] && continue  # done in an earlier run
      asr-kd decode --checkpoint $exp/$model/final.pt --data $d/test_long \
        --out $out/$model/decode_${m}min_$mode $flag
    done
  done
  [[ " $unwindowed_minutes " == *" $m "* ]] || continue
  [ -f $out/teacher/decode_${m}min_unwindowed/result.json ] && continue
  ( ulimit -v $((mem_cap_gb * 1024 * 1024))
    asr-kd decode --checkpoint $exp/teacher/final.pt --data $d/test_long --whole-recordings \
      --chunk 1000000 --left 0 --right 0 --out $out/teacher/decode_${m}min_unwindowed ) \
    || echo "teacher, ${m} min, one window for the whole file: failed under a ${mem_cap_gb} GB cap"
done

python3 - "$out" "$minutes" "$models" <<'PY' | tee $out/long_form.md
import json, sys
from pathlib import Path
out, minutes, models = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()
print("| model | minutes | decoding | WER | CER | RTF total | peak RSS (MB) |")
print("|---|---|---|---|---|---|---|")
for model in models:
    for m in minutes:
        for mode in ("segments", "whole", "unwindowed"):
            p = out / model / f"decode_{m}min_{mode}" / "result.json"
            if not p.exists():
                if mode == "unwindowed" and model == "teacher":
                    print(f"| {model} | {m} | {mode} | not run or failed (see log) | | | |")
                continue
            r = json.loads(p.read_text())
            print(f"| {model} | {m} | {mode} | {r['wer']:.2f} | {r['cer']:.2f} | {r['rtf']['rtf_total']:.4f} "
                  f"| {r['rtf']['peak_rss_mb']:.0f} |")
r = json.loads((out / models[0] / f"decode_{minutes[0]}min_whole" / "rtf.json").read_text())
print(f"\nCPU: {r['cpu']}, {r['threads']} thread, torch {r['torch']}; windows {r['chunking']}.")
PY
