#!/usr/bin/env bash
# Deployment check on a finished recipe run (issue 6): WER per decoder (greedy, prefix beam, beam
# with the recipe's word 3-gram LM) and
# per precision (fp32, int8 dynamic quantisation), an ONNX export decoded with onnxruntime, and the
# RTF benchmark (1 thread / all threads, fp32 / int8, plus edge mode: 1 thread pinned to core 0).
# Writes $out/deploy.md.  Run from egs/synth/s0 after ./run.sh:  local/deploy_check.sh [--exp exp]
set -euo pipefail
. ./path.sh

data=data
exp=exp
out=exp/deploy
models="student_kd teacher"
beam_size=8
lm_beam_size=50
lm_weight=1.0
word_score=0.0

. utils/parse_options.sh

mkdir -p $out
./run.sh --stage 2 --stop-stage 2 --data $data --exp $exp   # the LM (skipped when already made)
for m in $models; do
  for set in dev test; do
    for dec in greedy beam; do
      d=$out/$m/decode_${set}_$dec
      [ -f $d/result.json ] || asr-kd decode --checkpoint $exp/$m/final.pt --data $data/$set --out $d \
        --decoder $dec --beam-size $beam_size
    done
    d=$out/$m/decode_${set}_lm
    [ -f $d/result.json ] || asr-kd decode --checkpoint $exp/$m/final.pt --data $data/$set --out $d \
      --decoder beam --beam-size $lm_beam_size --lm $data/lang/lm.arpa --lm-weight $lm_weight --word-score $word_score
    d=$out/$m/decode_${set}_int8
    [ -f $d/result.json ] || asr-kd decode --checkpoint $exp/$m/final.pt --data $data/$set --out $d --precision int8
  done
done
[ -f $out/student_kd.onnx ] || asr-kd export --checkpoint $exp/student_kd/final.pt --format onnx --out $out/student_kd.onnx
for set in dev test; do
  d=$out/student_kd/decode_${set}_onnx
  [ -f $d/result.json ] || asr-kd decode --checkpoint $out/student_kd.onnx --data $data/$set --out $d
done

ckpts="$(for m in $models; do echo $exp/$m/final.pt; done)"
asr-kd bench --checkpoint $ckpts --data $data/test --out $out/bench --threads 1 all --precisions fp32 int8
asr-kd bench --checkpoint $exp/student_kd/final.pt --data $data/test --out $out/bench_edge --edge --precisions fp32 int8

python3 - "$out" "$models" <<'PY' > $out/deploy.md.tmp
import json, sys
from pathlib import Path
out, models = Path(sys.argv[1]), sys.argv[2].split()
print("| model | decoding | dev WER | test WER | test RTF (1 thread) |")
print("|---|---|---|---|---|")
variants = [("greedy", "greedy, fp32"), ("beam", "prefix beam, fp32"), ("lm", "beam + word 3-gram LM, fp32"),
            ("int8", "greedy, int8"), ("onnx", "greedy, ONNX Runtime")]
for m in models:
    for key, label in variants:
        r = {s: out / m / f"decode_{s}_{key}" / "result.json" for s in ("dev", "test")}
        if not all(p.exists() for p in r.values()):
            continue
        r = {s: json.loads(p.read_text()) for s, p in r.items()}
        print(f"| {m} | {label} | {r['dev']['wer']:.2f} | {r['test']['wer']:.2f} | {r['test']['rtf']['rtf_total']:.4f} |")
PY
{ cat $out/deploy.md.tmp; printf '\nRTF benchmark (`asr-kd bench`):\n\n'; cat $out/bench/bench.md
  printf '\nEdge mode (`asr-kd bench --edge`):\n\n'; cat $out/bench_edge/bench.md; } > $out/deploy.md
rm $out/deploy.md.tmp
cat $out/deploy.md
