#!/usr/bin/env bash
# What this recipe's presets need on this machine's GPU, measured: --steps training steps of each preset
# (teacher, student_ctc, student_kd from the teacher's top-k cache) and one teacher-cache pass over the
# training set, timed; then local/gpu_budget_table.py turns speed, peak GPU and host memory and cache sizes
# into GPU-hours and disk for --hours of audio at the presets' epochs (train-clean-100: 100.6 h).
# The training set is --data (prepared by run.sh stages 0-2), or with --stand-in SRC a copy of any Kaldi
# data dir joined into LibriSpeech-length utterances (local/join_utterances.py) with its own features and
# BPE units. Output: $exp/budget.md (table) and $exp/<model>/train_summary.json.
#   local/gpu_budget.sh                                             # on data/train_clean_100 after stage 2
#   local/gpu_budget.sh --stand-in ../../synth/s0/data/train --nj 16  # without LibriSpeech
set -euo pipefail
[ -f path.sh ] || { echo "$0: run me from egs/librispeech/s0" >&2; exit 1; }
. ./path.sh
. ./cmd.sh

data=data/train_clean_100   # prepared training set (features + cmvn.json)
units=data/lang/units.txt
stand_in=                   # Kaldi data dir to build a LibriSpeech-length stand-in from, instead of --data
vocab_size=300              # BPE pieces of the stand-in's units
conf=conf                   # presets: teacher.yaml, student.yaml, student_kd.yaml
exp=exp/gpu_budget
steps=100                   # optimizer steps timed per preset (the first, warm-up ones included)
hours=100.6                 # audio per epoch to budget for (train-clean-100)
device=cuda
kd_top_k=16
nj=2                        # feature jobs for the stand-in

. utils/parse_options.sh
. utils/stages.sh

if [ -n "$stand_in" ]; then
  data=$exp/data/train units=$exp/data/lang/units.txt
  if done_or $exp/data/.done; then
    echo "stand-in: $stand_in joined into LibriSpeech-length utterances -> $data"
    rm -rf $data
    python local/join_utterances.py $stand_in $data --nj $nj
    n=$(jobs_for $data/utt2spk)
    run_sharded $n "$train_cmd" $exp/data/log/feats asr-kd compute-feats --config $conf/teacher.yaml $data
    if [ "$n" -gt 1 ]; then asr-kd merge-feats --nj $n $data; fi
    $train_cmd $exp/data/log/cmvn.log asr-kd compute-cmvn $data
    $train_cmd $exp/data/log/units.log asr-kd make-units $data/text $units --type bpe --vocab-size $vocab_size
    touch $exp/data/.done
  fi
fi

measure() {  # measure NAME CONF [extra train args...]: a fresh run of --steps steps
  local name=$1 yaml=$2; shift 2
  echo "$name: $steps steps of $conf/$yaml on $device"
  rm -rf $exp/$name
  $cuda_cmd $exp/$name/log/run.log asr-kd train --config $conf/$yaml --train $data --units $units \
    --cmvn $data/cmvn.json --exp $exp/$name --device $device --set train_conf.max_steps=$steps "$@"
}

measure teacher teacher.yaml
echo "teacher cache: one pass over $data"
rm -rf $exp/teacher/cache_train
start=$(date +%s.%N)
$train_cmd $exp/teacher/log/dump_teacher.log asr-kd dump-teacher --checkpoint $exp/teacher/final.pt --data $data \
  --out $exp/teacher/cache_train --top-k $kd_top_k --device $device
awk -v a=$start -v b=$(date +%s.%N) 'BEGIN { print b - a }' > $exp/teacher/cache_train/seconds
measure student_ctc student.yaml
measure student_kd student_kd.yaml --teacher-cache $exp/teacher/cache_train
python local/gpu_budget_table.py --exp $exp --conf $conf --data $data --hours $hours > $exp/budget.md.tmp
mv $exp/budget.md.tmp $exp/budget.md
cat $exp/budget.md
