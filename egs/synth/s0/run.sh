#!/usr/bin/env bash
# Default offline recipe: synthesise a corpus -> augmented copies -> fbank + CMVN -> units + LM ->
# Conformer CTC teacher -> CNN-RNN student (CTC only) -> same student with KD, also from untranscribed
# audio the teacher labels (each averaged over its last epochs) -> decode dev/test/test_unseen_engine (greedy
# and beam + LM) and the robustness sets -> WER/RTF tables.
# Every stage writes files under $data or $exp and is skipped when its .done marker exists.
set -euo pipefail
[ -f path.sh ] || { echo "$0: run me from my own folder (cd egs/synth/s0)" >&2; exit 1; }
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
hours=6.4        # hours of training audio to synthesise
kokoro_hours=1.0 # part of --hours spoken by the (slow, neural) Kokoro voices (lower it with a smaller --hours);
                 # empty: 10% of --hours. The other voices keep the 5.4 h they had at 6 h and 10%; Kokoro 0.6 -> 1.2 h
                 # made every held-out person 2-9 points better, 1.0 keeps the recipe under 2 h on a slow day (RESULTS.md)
engine_share=    # most of the other train hours one engine may take; empty: 1 (by voice; espeak-ng ~95%)
eval_utts=40     # dev/test utterances per held-out speaker
unlab_hours=2    # untranscribed audio the KD student also learns from, its text the teacher's 1-best; 0: none
                 # (train voices, other sentences; frame + sequence-level KD; dev -3.5 to -4.2, 2 seeds: RESULTS.md)
unlab_engine_share= # most of the untranscribed hours one engine may take; empty: 1 (by voice, as engine_share)
seed=0           # corpus seed (training seeds live in the YAMLs)
nj=1             # parallel jobs (shards) for features, dump-teacher and each decode; 1: unsharded
prep_nj=2        # parallel processes inside the synthesis and augmentation jobs
ngpu=1           # training processes (GPUs) per node; > 1: one torchrun job ($cuda_cmd), on Slurm over its nodes
conf=conf        # folder with teacher.yaml, student.yaml, student_kd.yaml
data=data        # data directories go here
exp=exp          # experiment directories go here
device=auto      # training device: auto | cpu | cuda
decode_threads=1 # CPU threads for decoding (RTF is measured with these)
cpu_jobs=2       # single-thread CPU jobs at once: shards of the pseudo-labels and teacher cache, stage-6 decodes
                 # (shards: at least --nj; each model's greedy test decode runs alone: its RTF goes in the tables)
kd_top_k=16      # teacher log-posteriors kept per frame in the KD cache
lm_order=3       # word n-gram LM for beam search with an LM
lm_corpus=true   # LM text: $data/local/lm/corpus.txt (stage 0: every training-source sentence no dev/test/
                 # untranscribed utterance reads); false: the training transcripts only
lm_beam_size=1000 # beam of the LM decodes (decode_<set>_lm) and LM pseudo-labels (teacher test WER 24.62 at 50,
                  # 21.34 at 1000 with asr_kd.lm's beam threshold 15; a 4x longer search: local/lm_beam_sweep.py, RESULTS.md)
lm_weight=2.0    # LM weight of those decodes (best of 0.5-3.0 on dev for the teacher: local/lm_sweep.sh, RESULTS.md)
pl_lm=true       # pseudo-labels (stage 5) by beam search with that LM; false: the teacher's greedy 1-best
                 # (on the untranscribed audio of the full recipe: 10.9% WER against 27.1% greedy; RESULTS.md)
augment=true     # train on data/train + augmented copies ($augment_conf); false: clean only
augment_conf=conf/augment.yaml  # copies and what they get; the robustness sets use conf/augment_test/
average_num=3    # decode the average of N epoch checkpoints (avg.pt); 0: final.pt
average_by=last  # which N epochs: last | dev_loss | dev_cer (the N best by it)
                 # (the students' dev loss turns up while their CER still falls; in 9 student runs at full and
                 # demo scale the last 3 were never worse on dev than the best 3 by dev loss (0.3-2.9 better in 7)
                 # and within 0.51 worse to 1.26 better on test; for the teacher mixed on one seed, the same epochs
                 # on another: local/average_ablation.sh, RESULTS.md)
robust_sets="noise10 noise0 reverb"  # test_<name> made with conf/augment_test/<name>.yaml: robustness table

units=char                         # char, or sentencepiece subwords: bpe | unigram
vocab_size=256                     # subword pieces (--units bpe|unigram)

. utils/parse_options.sh
[ "$nj" -ge 1 ] && [ "$ngpu" -ge 1 ] && [ "$cpu_jobs" -ge 1 ] || { echo "$0: --nj, --ngpu and --cpu-jobs must be >= 1" >&2; exit 1; }
case $average_by in last|dev_loss|dev_cer) ;; *) echo "$0: --average-by must be last, dev_loss or dev_cer" >&2; exit 1;; esac

models="teacher student_ctc student_kd"
declare -A model_conf=([teacher]=teacher.yaml [student_ctc]=student.yaml [student_kd]=student_kd.yaml)

. utils/stages.sh

train_prog="asr-kd train"
[ "$ngpu" -gt 1 ] && train_prog="utils/torchrun.sh $ngpu -m asr_kd train"

if run_stage 0 && done_or $data/.prepare.done; then
  echo "stage 0: synthesise ${hours} h of training audio + dev/test/test_unseen_engine into $data"
  $train_cmd $data/log/prepare.log asr-kd prepare-synth --out $data --hours $hours \
    --eval-utts-per-spk $eval_utts --seed $seed --nj $prep_nj ${kokoro_hours:+--kokoro-hours $kokoro_hours} \
    ${engine_share:+--max-engine-share $engine_share} --unlab-hours $unlab_hours \
    ${unlab_engine_share:+--unlab-max-engine-share $unlab_engine_share}
  touch $data/.prepare.done
fi

# Evaluation sets: test_unseen_engine (an engine family and a text source never trained on) is
# written only when its engine (RHVoice) and text are installed.
eval_sets="dev test"
[ -f $data/test_unseen_engine/text ] && eval_sets="$eval_sets test_unseen_engine"

train_set=train
$augment && train_set=train_all  # train + train_aug
ckpt=final.pt
[ "$average_num" -gt 0 ] && ckpt=avg.pt
lm_search="--decoder beam --beam-size $lm_beam_size --lm $data/lang/lm.arpa --lm-weight $lm_weight"  # the _lm decodes
kd_train_set=$train_set  # the KD student's: + the teacher-labelled untranscribed audio (stage 5)
if awk "BEGIN { exit !($unlab_hours > 0) }"; then
  kd_train_set=${train_set}_pl
  if run_stage 5 && [ ! -f $data/train_unlab/wav.scp ]; then
    echo "$0: --unlab-hours $unlab_hours but $data has no train_unlab (prepared without it): rerun stage 0 after" \
      "rm $data/.prepare.done (only the missing audio is synthesised), or pass --unlab-hours 0" >&2
    exit 1
  fi
fi

if run_stage 1 && $augment && done_or $data/.augment.done; then
  echo "stage 1: augmented copy of train (speed, pitch, noise, reverb, telephone) -> $data/$train_set"
  $train_cmd $data/log/augment.log asr-kd augment-data --data $data/train --out $data/train_aug \
    --config $augment_conf --nj $prep_nj
  $train_cmd $data/log/combine.log asr-kd combine-data $data/$train_set $data/train $data/train_aug
  touch $data/.augment.done
fi

if run_stage 1 && done_or $data/.robust.done; then
  echo "stage 1: robustness test sets: test with ${robust_sets}"
  for r in $robust_sets; do
    $train_cmd $data/log/augment_test_$r.log asr-kd augment-data --data $data/test --out $data/test_$r \
      --config conf/augment_test/$r.yaml --nj $prep_nj
  done
  touch $data/.robust.done
fi

if run_stage 1 && done_or $data/.feats.done; then
  n=$(jobs_for $data/$train_set/utt2spk $data/dev/utt2spk)
  echo "stage 1: fbank features for $train_set/dev ($n job(s)) and global CMVN on $train_set"
  run_sharded $n "$train_cmd" $data/log/feats asr-kd compute-feats --config $conf/teacher.yaml $data/$train_set $data/dev
  if [ "$n" -gt 1 ]; then asr-kd merge-feats --nj $n $data/$train_set $data/dev; fi
  $train_cmd $data/log/cmvn.log asr-kd compute-cmvn $data/$train_set
  touch $data/.feats.done
fi

if run_stage 2 && done_or $data/.units.done; then
  echo "stage 2: $units units from the training text"
  $train_cmd $data/log/units.log asr-kd make-units $data/train/text $data/lang/units.txt \
    --type $units --vocab-size $vocab_size
  touch $data/.units.done
fi

if run_stage 2 && done_or $data/.lm.done; then
  lm_text="--text $data/train/text"
  [ "$lm_corpus" = true ] && [ -f $data/local/lm/corpus.txt ] && lm_text="--corpus $data/local/lm/corpus.txt"
  echo "stage 2: word ${lm_order}-gram LM from ${lm_text#--* } (for --decoder beam --lm)"
  $train_cmd $data/log/lm.log asr-kd make-lm $lm_text --out $data/lang/lm.arpa --order $lm_order
  touch $data/.lm.done
fi

train_model() {  # train_model NAME TRAIN_SET [extra train args...] (CMVN: always $train_set's)
  local name=$1 train=$2; shift 2
  if done_or $exp/$name/.done; then
    ${cuda_cmd:-$train_cmd} $exp/$name/log/run.log $train_prog --config $conf/${model_conf[$name]} \
      --train $data/$train --dev $data/dev --units $data/lang/units.txt --cmvn $data/$train_set/cmvn.json \
      --exp $exp/$name --device $device --resume "$@"
    if [ "$average_num" -gt 0 ]; then
      local pick="--best $average_num --by $average_by"
      [ "$average_by" = last ] && pick="--last $average_num"
      $train_cmd $exp/$name/log/average.log asr-kd average --exp $exp/$name $pick --out $exp/$name/avg.pt
    fi
    touch $exp/$name/.done
  fi
}

if run_stage 3; then
  echo "stage 3: train the Conformer CTC teacher"
  train_model teacher $train_set
fi

if run_stage 4; then
  echo "stage 4: train the student with CTC only (baseline)"
  train_model student_ctc $train_set
fi

cpu_shards=$((nj > cpu_jobs ? nj : cpu_jobs))  # shards of the teacher's pseudo-labelling and cache
threads_per_shard() { [ "$1" -gt 1 ] && echo 1 || nproc; }  # threads_per_shard N: 1 each for N > 1 shards

if run_stage 5; then
  echo "stage 5: train the student with frame-level KD from the teacher (top-k posteriors cached once) on $kd_train_set"
  if [ "$kd_train_set" != "$train_set" ] && done_or $data/$kd_train_set/.done; then
    pl_search=
    $pl_lm && pl_search=$lm_search
    pl=$data/train_unlab_pl n=$(nj=$cpu_shards jobs_for $data/train_unlab/utt2spk)
    run_sharded $n "$decode_cmd" $data/log/pseudo_label asr-kd pseudo-label --checkpoint $exp/teacher/$ckpt \
      --data $data/train_unlab --out $pl --num-threads $(threads_per_shard $n) $pl_search
    if [ "$n" -gt 1 ]; then  # join the shards that labelled anything
      labelled=$(for i in $(seq $n); do if [ -s $pl/split$n/$i/text ]; then echo $pl/split$n/$i; fi; done)
      if [ -n "$labelled" ]; then asr-kd combine-data $pl $labelled; fi
      rm -r $pl/split$n
    fi
    if [ ! -s $pl/text ]; then  # an untrained teacher hears nothing: no audio to add
      echo "$0: warning: the teacher's 1-best is empty on every utterance of $data/train_unlab;" \
        "the KD student learns from $train_set alone" >&2
      pl=
    fi
    $train_cmd $data/log/combine_pl.log asr-kd combine-data $data/$kd_train_set $data/$train_set $pl
    n=$(jobs_for $data/$kd_train_set/utt2spk)
    run_sharded $n "$train_cmd" $data/log/feats_pl asr-kd compute-feats --config $conf/teacher.yaml $data/$kd_train_set
    if [ "$n" -gt 1 ]; then asr-kd merge-feats --nj $n $data/$kd_train_set; fi
    cp $data/$train_set/cmvn.json $data/$kd_train_set/  # every model normalises with $train_set's statistics
    touch $data/$kd_train_set/.done
  fi
  if done_or $exp/teacher/cache_train/.done; then
    n=$(nj=$cpu_shards jobs_for $data/$kd_train_set/feats.idx)
    OMP_NUM_THREADS=$(threads_per_shard $n) run_sharded $n "$train_cmd" $exp/teacher/log/dump_teacher \
      asr-kd dump-teacher --checkpoint $exp/teacher/$ckpt --data $data/$kd_train_set --out $exp/teacher/cache_train \
      --top-k $kd_top_k
    if [ "$n" -gt 1 ]; then
      asr-kd merge-teacher-cache --data $data/$kd_train_set --out $exp/teacher/cache_train --nj $n
    fi
    touch $exp/teacher/cache_train/.done
  fi
  train_model student_kd $kd_train_set --teacher-cache $exp/teacher/cache_train
fi

decode() {  # decode NAME SET SUFFIX [decoder args...]: $exp/NAME/decode_SET[SUFFIX]
  local name=$1 set=$2 suffix=$3; shift 3
  local out=$exp/$name/decode_$set$suffix n
  if done_or $out/.done; then
    n=$(jobs_for $data/$set/utt2spk)
    run_sharded $n "$decode_cmd" $exp/$name/log/decode_$set$suffix asr-kd decode \
      --checkpoint $exp/$name/$ckpt --data $data/$set --out $out --device cpu --num-threads $decode_threads "$@"
    if [ "$n" -gt 1 ]; then asr-kd merge-decode --data $data/$set --out $out --nj $n; fi
    touch $out/.done
  fi
}

in_pool() {  # in_pool CMD...: CMD in the background, at most $cpu_jobs at once; a failed one stops the recipe
  if [ $running -ge $cpu_jobs ]; then wait -n; running=$((running - 1)); fi
  "$@" &
  running=$((running + 1))
}

if run_stage 6; then
  echo "stage 6: decode $eval_sets (greedy and beam + LM) and test_{${robust_sets// /,}} (greedy) on CPU," \
    "$decode_threads thread(s), $cpu_jobs at once"
  for name in $models; do
    decode $name test ""  # alone: the RTF in the tables
  done
  running=0
  for name in $models; do
    for set in $eval_sets; do
      [ $set = test ] || in_pool decode $name $set ""
      in_pool decode $name $set _lm $lm_search
    done
    for r in $robust_sets; do
      in_pool decode $name test_$r ""
    done
  done
  for _ in $(seq $running); do wait -n; done
fi

if run_stage 7; then
  echo "stage 7: results table -> $exp/results.md"
  {
    asr-kd results --exp $(for m in $models; do echo $exp/$m; done) --sets $eval_sets --rtf-set test
    if [ -n "$robust_sets" ]; then
      printf '\nRobustness (greedy WER on clean test, test with noise at 10 and 0 dB SNR, reverberant test,\n'
      printf 'and the held-out engine family):\n\n'
      asr-kd results --exp $(for m in $models; do echo $exp/$m; done) --rtf-set test \
        --sets test $(for r in $robust_sets; do echo test_$r; done) $(echo $eval_sets | grep -o test_unseen_engine)
    fi
    printf '\nJob wall times of this run:\n\n'
    utils/run_summary.sh $data $exp
  } > $exp/results.md.tmp
  mv $exp/results.md.tmp $exp/results.md
  cat $exp/results.md
fi
