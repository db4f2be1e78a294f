#!/usr/bin/env bash
# LibriSpeech recipe: Kaldi data dirs from an extracted corpus -> fbank + CMVN -> units -> Conformer CTC
# teacher -> CNN-RNN student (CTC only) -> the same student with frame-level KD from the teacher's cached
# top-k posteriors -> decode dev/test sets -> WER/RTF table. Presets for one or more GPUs (README.md here);
# tests/test_librispeech_recipe.py runs every stage on a fabricated corpus with tiny presets (--conf).
# Every stage writes files under $data or $exp and is skipped when its .done marker exists.
set -euo pipefail
[ -f path.sh ] || { echo "$0: run me from my own folder (cd egs/librispeech/s0)" >&2; exit 1; }
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
corpus=                            # the extracted LibriSpeech folder (with SPEAKERS.TXT); needed by stage 0
train_set=train-clean-100          # LibriSpeech subset(s) to train on, e.g. "train-clean-100 train-clean-360"
dev_set=dev-clean                  # subset for per-epoch dev loss/CER
test_sets="test-clean test-other"  # subsets to decode besides the dev set
conf=conf                          # folder with teacher.yaml, student.yaml, student_kd.yaml
data=data                          # data directories go here (train-clean-100 -> data/train_clean_100)
exp=exp                            # experiment directories go here
nj=1                               # parallel jobs (shards) for features, dump-teacher and each decode
ngpu=1                             # training processes (GPUs) per node; > 1: one torchrun job ($cuda_cmd)
device=auto                        # training device: auto | cpu | cuda
decode_threads=1                   # CPU threads for decoding (RTF is measured with these)
kd_top_k=16                        # teacher log-posteriors kept per frame in the KD cache
average_num=5                      # decode the average of the N epochs with the lowest dev loss; 0: final.pt

units=bpe                          # sentencepiece subwords (bpe | unigram), or char
vocab_size=300                     # subword pieces (--units bpe|unigram): ESPnet's LibriSpeech-100 setting

. utils/parse_options.sh
[ "$nj" -ge 1 ] && [ "$ngpu" -ge 1 ] || { echo "$0: --nj and --ngpu must be >= 1" >&2; exit 1; }

train=$(for s in $train_set; do echo -n "${s//-/_}_"; done); train=${train%_}  # train_clean_100[_train_clean_360]
dev=${dev_set//-/_}
eval_sets="$dev ${test_sets//-/_}"
models="teacher student_ctc student_kd"
declare -A model_conf=([teacher]=teacher.yaml [student_ctc]=student.yaml [student_kd]=student_kd.yaml)
ckpt=final.pt
[ "$average_num" -gt 0 ] && ckpt=avg.pt
train_prog="asr-kd train"
[ "$ngpu" -gt 1 ] && train_prog="utils/torchrun.sh $ngpu -m asr_kd train"

. utils/stages.sh

if run_stage 0; then
  echo "stage 0: Kaldi data dirs of $train_set $dev_set $test_sets from $corpus"
  for part in $train_set $dev_set $test_sets; do
    name=${part//-/_}
    if done_or $data/.prepare_$name.done; then
      [ -d "$corpus" ] || { echo "$0: --corpus must name an extracted LibriSpeech folder (got '$corpus')" >&2; exit 1; }
      $train_cmd $data/log/prepare_$name.log python -m data_prep.librispeech --corpus "$corpus" \
        --subset $part --out $data/$name
      touch $data/.prepare_$name.done
    fi
  done
  if [ "$train" != "${train_set//-/_}" ] && done_or $data/.combine.done; then
    $train_cmd $data/log/combine.log asr-kd combine-data $data/$train $(for s in $train_set; do echo $data/${s//-/_}; done)
    touch $data/.combine.done
  fi
fi

if run_stage 1 && done_or $data/.feats.done; then
  n=$(jobs_for $data/$train/utt2spk $data/$dev/utt2spk)
  echo "stage 1: fbank features for $train/$dev ($n job(s)) and global CMVN on $train"
  run_sharded $n "$train_cmd" $data/log/feats asr-kd compute-feats --config $conf/teacher.yaml $data/$train $data/$dev
  if [ "$n" -gt 1 ]; then asr-kd merge-feats --nj $n $data/$train $data/$dev; fi
  $train_cmd $data/log/cmvn.log asr-kd compute-cmvn $data/$train
  touch $data/.feats.done
fi

if run_stage 2 && done_or $data/.units.done; then
  echo "stage 2: $units units from the training text"
  $train_cmd $data/log/units.log asr-kd make-units $data/$train/text $data/lang/units.txt \
    --type $units --vocab-size $vocab_size
  touch $data/.units.done
fi

train_model() {  # train_model NAME [extra train args...]
  local name=$1; shift
  if done_or $exp/$name/.done; then
    ${cuda_cmd:-$train_cmd} $exp/$name/log/run.log $train_prog --config $conf/${model_conf[$name]} \
      --train $data/$train --dev $data/$dev --units $data/lang/units.txt --cmvn $data/$train/cmvn.json \
      --exp $exp/$name --device $device --resume "$@"
    if [ "$average_num" -gt 0 ]; then
      $train_cmd $exp/$name/log/average.log asr-kd average --exp $exp/$name --best $average_num --out $exp/$name/avg.pt
    fi
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
    n=$(jobs_for $data/$train/feats.idx)
    run_sharded $n "$train_cmd" $exp/teacher/log/dump_teacher asr-kd dump-teacher --checkpoint $exp/teacher/$ckpt \
      --data $data/$train --out $exp/teacher/cache_train --top-k $kd_top_k
    if [ "$n" -gt 1 ]; then asr-kd merge-teacher-cache --data $data/$train --out $exp/teacher/cache_train --nj $n; fi
    touch $exp/teacher/cache_train/.done
  fi
  train_model student_kd --teacher-cache $exp/teacher/cache_train
fi

if run_stage 6; then
  echo "stage 6: decode $eval_sets on CPU with $decode_threads thread(s)"
  for name in $models; do
    for set in $eval_sets; do
      out=$exp/$name/decode_$set
      if done_or $out/.done; then
        n=$(jobs_for $data/$set/utt2spk)
        run_sharded $n "$decode_cmd" $exp/$name/log/decode_$set asr-kd decode --checkpoint $exp/$name/$ckpt \
          --data $data/$set --out $out --device cpu --num-threads $decode_threads
        if [ "$n" -gt 1 ]; then asr-kd merge-decode --data $data/$set --out $out --nj $n; fi
        touch $out/.done
      fi
    done
  done
fi

if run_stage 7; then
  echo "stage 7: results table -> $exp/results.md"
  {
    asr-kd results --exp $(for m in $models; do echo $exp/$m; done) --sets $eval_sets
    printf '\nJob wall times of this run:\n\n'
    utils/run_summary.sh $data $exp
  } > $exp/results.md.tmp
  mv $exp/results.md.tmp $exp/results.md
  cat $exp/results.md
fi
