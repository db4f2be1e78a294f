#!/usr/bin/env bash
# KD ablation on a finished recipe run (issue 4): student variants distilled from $exp/teacher,
# decoded on dev/test, and a table with the fraction of the teacher-student gap each recovers.
# Run from egs/synth/s0 after ./run.sh:  local/kd_ablation.sh [--data data] [--exp exp] [--unlab-hours 2]
set -euo pipefail
. ./path.sh
. ./cmd.sh

data=data
exp=exp
conf=conf
hours=4              # --hours and --eval-utts of the recipe run (the corpus is extended, not rebuilt)
eval_utts=40
unlab_hours=2        # untranscribed audio synthesised for the unlabelled-data rows
blank_threshold=0.95 # frames where the teacher's blank posterior exceeds this carry no KD signal
max_delay=2          # spike delay tolerated by the delay-tolerant rows (40 ms frames)

. utils/parse_options.sh

common="--dev $data/dev --units $data/lang/units.txt --cmvn $data/train/cmvn.json --resume"
blank="--set kd_conf.blank_threshold=$blank_threshold --set kd_conf.nonblank_only=true"
delay="--set kd_conf.max_delay=$max_delay"


variant() {  # variant NAME CONFIG TRAIN_DIR [extra train args...]
  local name=$1 config=$2 train=$3; shift 3
  if [ ! -f $exp/$name/.done ]; then
    $train_cmd $exp/$name/log/run.log asr-kd train --config $conf/$config $common --train $train \
      --exp $exp/$name "$@"
    touch $exp/$name/.done
  fi
  for set in dev test; do
    [ -f $exp/$name/decode_$set/.done ] && continue
    asr-kd decode --checkpoint $exp/$name/final.pt --data $data/$set --out $exp/$name/decode_$set
    touch $exp/$name/decode_$set/.done
  done
}

teacher="--teacher $exp/teacher/final.pt"
variant kd_blank student_kd.yaml $data/train $teacher $blank
variant kd_blank_delay student_kd.yaml $data/train $teacher $blank $delay
if [ ! -f $data/train_unlab_pl/.done ]; then  # unlabelled audio, teacher 1-best as its text
  asr-kd prepare-synth --out $data --hours $hours --eval-utts-per-spk $eval_utts --unlab-hours $unlab_hours
  asr-kd pseudo-label --checkpoint $exp/teacher/final.pt --data $data/train_unlab --out $data/train_unlab_pl
  asr-kd combine-data $data/train_plus_unlab $data/train $data/train_unlab_pl
  asr-kd compute-feats $data/train_plus_unlab
  touch $data/train_unlab_pl/.done
fi
variant seq_kd_unlab student.yaml $data/train_plus_unlab   # CTC on transcripts + teacher 1-best only
variant kd_all_unlab student_kd.yaml $data/train_plus_unlab $teacher $blank $delay

rows="student_ctc student_kd kd_blank kd_blank_delay seq_kd_unlab kd_all_unlab teacher"
asr-kd results --exp $(for r in $rows; do echo $exp/$r; done) --sets dev test --gap | tee $exp/kd_ablation.md
