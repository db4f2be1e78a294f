#!/usr/bin/env bash
# Augmentation ablation for one model: the same preset trained on train + one augmented copy
# ($augment_conf), against the recipe's model trained on clean train, both averaged (avg.pt) and decoded
# greedily on test, the robustness sets and test_unseen_engine. Needs a finished recipe run without
# augmentation (default: `make demo`). Prints the Markdown table. Run from egs/synth/s0.
set -euo pipefail
. ./path.sh

data=data_demo                  # recipe data dir (stages 0-2 done)
base=exp_demo                   # recipe exp dir whose $name was trained on clean $data/train
out=exp_demo_aug                # experiment dir for the augmented run
name=teacher
config=conf/demo/teacher.yaml
augment_conf=conf/augment.yaml
average_num=3
sets="test test_noise10 test_noise0 test_reverb test_unseen_engine"
. utils/parse_options.sh

log=$out/log
if [ ! -f $data/train_all/feats.idx ]; then
  utils/run_local.sh $log/augment.log asr-kd augment-data --data $data/train --out $data/train_aug --config $augment_conf --nj 2
  utils/run_local.sh $log/combine.log asr-kd combine-data $data/train_all $data/train $data/train_aug
  utils/run_local.sh $log/feats.log asr-kd compute-feats --config $config $data/train_all
fi
# CMVN of the clean train, as the base model: the comparison changes only the training audio
aug=$out/${name}_aug
if [ ! -f $aug/avg.pt ]; then
  utils/run_local.sh $aug/log/run.log asr-kd train --config $config --train $data/train_all --dev $data/dev \
    --units $data/lang/units.txt --cmvn $data/train/cmvn.json --exp $aug --device cpu --resume
  utils/run_local.sh $aug/log/average.log asr-kd average --exp $aug --best $average_num --out $aug/avg.pt
fi
for set in $sets; do
  [ -f $aug/decode_$set/result.json ] || utils/run_local.sh $aug/log/decode_$set.log asr-kd decode \
    --checkpoint $aug/avg.pt --data $data/$set --out $aug/decode_$set --device cpu --num-threads 1
done
ln -sfn $(cd $base/$name && pwd) $out/${name}_clean
asr-kd results --exp $out/${name}_clean $aug --sets $sets --rtf-set test
