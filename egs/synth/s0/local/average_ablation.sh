#!/usr/bin/env bash
# Checkpoint-averaging ablation on a finished recipe run: each model's last epoch (final.pt), the
# checkpoint the recipe decodes (avg.pt) and, with --last N, the average of its last N epochs
# (avg_last<N>.pt), with --best-loss N / --best-cer N the average of its best N epochs by dev loss
# (avg_loss<N>.pt) / dev CER (avg_cer<N>.pt); greedy WER on the evaluation sets. Prints the Markdown
# table. Run from egs/synth/s0 after ./run.sh.
set -euo pipefail
. ./path.sh

data=data
exp=exp
models="teacher student_ctc student_kd"
sets="dev test test_unseen_engine"
last=0           # > 0: also average and decode the last N epochs
best_loss=0      # > 0: also average and decode the best N epochs by dev loss
best_cer=0       # > 0: also average and decode the best N epochs by dev CER
. utils/parse_options.sh

wer() { python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['wer']:.2f}\")" $1/result.json; }
# decode CKPT into DIR unless DIR already has a result
decode() {
  local m=$1 ckpt=$2 s=$3 d=$4
  [ -f $d/result.json ] || utils/run_local.sh $exp/$m/log/$(basename $d).log asr-kd decode \
    --checkpoint $exp/$m/$ckpt --data $data/$s --out $d --device cpu --num-threads 1 > /dev/null
}
# columns: "<name, _ for spaces>:<checkpoint>:<decode suffix>:<asr-kd average options, comma-separated>"; final.pt and avg.pt are the run's own
columns="final.pt:final.pt:_final: avg.pt:avg.pt::"
[ "$last" -gt 0 ] && columns="$columns last_$last:avg_last$last.pt:_last$last:--last,$last"
[ "$best_loss" -gt 0 ] && columns="$columns best_${best_loss}_by_loss:avg_loss$best_loss.pt:_loss$best_loss:--best,${best_loss},--by,dev_loss"
[ "$best_cer" -gt 0 ] && columns="$columns best_${best_cer}_by_CER:avg_cer$best_cer.pt:_cer$best_cer:--best,${best_cer},--by,dev_cer"

header="| model |"; rule="|---|"
for s in $sets; do
  for c in $columns; do name=${c%%:*}; header="$header $s ${name//_/ } |"; rule="$rule---|"; done
done
echo "$header"
echo "$rule"
for m in $models; do
  row="| $m |"
  for c in $columns; do
    IFS=: read -r name ckpt suffix opts <<< "$c"
    if [ -n "$opts" ] && [ ! -f $exp/$m/$ckpt ]; then
      utils/run_local.sh $exp/$m/log/average_${ckpt%.pt}.log asr-kd average --exp $exp/$m ${opts//,/ } \
        --out $exp/$m/$ckpt > /dev/null
    fi
  done
  for s in $sets; do
    for c in $columns; do
      IFS=: read -r name ckpt suffix opts <<< "$c"
      decode $m $ckpt $s $exp/$m/decode_$s$suffix
      row="$row $(wer $exp/$m/decode_$s$suffix) |"
    done
  done
  echo "$row"
done
