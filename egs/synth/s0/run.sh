#!/usr/bin/env bash
# Default offline recipe: synthesise a corpus -> fbank + CMVN -> units -> Conformer CTC teacher
# -> CNN-RNN student (CTC only) -> same student with KD -> decode dev/test -> WER/RTF table.
# Every stage writes files under $data or $exp and is skipped when its .done marker exists.
set -euo pipefail
[ -f path.sh ] || { echo "$0: run me from my own folder (cd egs/synth/s0)" >&2; exit 1; }
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
hours=4          # hours of training audio to synthesise
eval_utts=40     # dev/test utterances per held-out speaker
seed=0           # corpus seed (training seeds live in the YAMLs)
nj=2             # parallel synthesis jobs
conf=conf        # folder with teacher.yaml, student.yaml, student_kd.yaml
data=data        # data directories go here
exp=exp          # experiment directories go here
device=auto      # training device: auto | cpu | cuda
decode_threads=1 # CPU threads for decoding (RTF is measured with these)
kd_top_k=16      # teacher log-posteriors kept per frame in the KD cache
lm_order=3       # word n-gram LM for beam search with an LM (decoded in local/deploy_check.sh)

. utils/parse_options.sh

models="teacher student_ctc student_kd"
declare -A model_conf=([teacher]=teacher.yaml [student_ctc]=student.yaml [student_kd]=student_kd.yaml)

. utils/stages.sh

if run_stage 0 && done_or $data/.prepare.done; then
  echo "stage 0: synthesise ${hours} h of training audio + dev/test into $data"
  $train_cmd $data/log/prepare.log asr-kd prepare-synth --out $data --hours $hours \
    --eval-utts-per-spk $eval_utts --seed $seed --nj $nj
  touch $data/.prepare.done
fi

if run_stage 1 && done_or $data/.feats.done; then
  echo "stage 1: fbank features for train/dev and global CMVN on train"
  $train_cmd $data/log/feats.log asr-kd compute-feats --config $conf/teacher.yaml $data/train $data/dev
  $train_cmd $data/log/cmvn.log asr-kd compute-cmvn $data/train
  touch $data/.feats.done
fi

if run_stage 2 && done_or $data/.units.done; then
  echo "stage 2: character units from the training text"
  $train_cmd $data/log/units.log asr-kd make-units $data/train/text $data/lang/units.txt
  touch $data/.units.done
fi

if run_stage 2 && done_or $data/.lm.done; then
  echo "stage 2: word ${lm_order}-gram LM from the training text (for --decoder beam --lm)"
  $train_cmd $data/log/lm.log asr-kd make-lm --text $data/train/text --out $data/lang/lm.arpa --order $lm_order
  touch $data/.lm.done
fi

train_model() {  # train_model NAME [extra train args...]
  local name=$1; shift
  if done_or $exp/$name/.done; then
    $train_cmd $exp/$name/log/run.log asr-kd train --config $conf/${model_conf[$name]} \
      --train $data/train --dev $data/dev --units $data/lang/units.txt --cmvn $data/train/cmvn.json \
      --exp $exp/$name --device $device --resume "$@"
    touch $exp/$name/.done
  fi
}

if run_stage 3; then
  echo "stage 3: train the Conformer CTC teacher"
  train_model teacher
fi

if run_stage 4; then
  echo "stage 4: train the student with CTC only (baseline)"
  train_model student_ctc
fi

if run_stage 5; then
  echo "stage 5: train the student with frame-level KD from the teacher (top-k posteriors cached once)"
  if done_or $exp/teacher/cache_train/.done; then
    $train_cmd $exp/teacher/log/dump_teacher.log asr-kd dump-teacher --checkpoint $exp/teacher/final.pt \
      --data $data/train --out $exp/teacher/cache_train --top-k $kd_top_k
    touch $exp/teacher/cache_train/.done
  fi
  train_model student_kd --teacher-cache $exp/teacher/cache_train
fi

if run_stage 6; then
  echo "stage 6: decode dev and test on CPU with $decode_threads thread(s)"
  for name in $models; do
    for set in dev test; do
      if done_or $exp/$name/decode_$set/.done; then
        $decode_cmd $exp/$name/log/decode_$set.log asr-kd decode --checkpoint $exp/$name/final.pt \
          --data $data/$set --out $exp/$name/decode_$set --device cpu --num-threads $decode_threads
        touch $exp/$name/decode_$set/.done
      fi
    done
  done
fi

if run_stage 7; then
  echo "stage 7: results table -> $exp/results.md"
  {
    asr-kd results --exp $(for m in $models; do echo $exp/$m; done) --sets dev test
    printf '\nJob wall times of this run:\n\n'
    utils/run_summary.sh $data $exp
  } > $exp/results.md.tmp
  mv $exp/results.md.tmp $exp/results.md
  cat $exp/results.md
fi
