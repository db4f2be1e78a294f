#!/usr/bin/env bash
# Teacher ingredient ablation on a finished recipe run: the recipe's teacher ($exp/teacher/final.pt, row
# `recipe`) against the same preset and seed trained with one ingredient changed per row (--rows):
#   clean             no augmented copy: clean $data/train only (for a run with the copy, ./run.sh)
#   clean_old_voices  no augmented copy and none of the voices issue 11 added to train ($new_voices:
#                     Kokoro, festival rab and don), so espeak-ng, flite and festival kal/ked only
#   clean_small       no augmented copy and a smaller Conformer ($small_set)
#   aug               train + the recipe's augmented copy ($augment_conf: a third of train), for a run without it (make demo)
#   no_speed, no_pitch, no_noise, no_reverb, no_telephone
#                     train + the copy with that one augmentation off (every other choice per copy is
#                     drawn as in the recipe's copy: asr-kd augment-data draws all of them whatever is off)
# The rows are trained and decoded by local/teacher_sweep.sh (final.pt, greedy, on $sets; finished rows
# are skipped and stopped ones resumed), which prints the table. Averaging is measured on the recipe run
# by local/average_ablation.sh. Run from egs/synth/s0.
set -euo pipefail
. ./path.sh

data=data                       # recipe data dir (stages 0-2 done)
exp=exp                         # recipe exp dir (stage 3 done)
out=exp_ablation                # one experiment dir per row below this
config=conf/teacher.yaml
augment_conf=conf/augment.yaml
new_voices="kokoro_|festival_rab|festival_don"   # speaker-id prefixes of the voices issue 11 added to train
small_set="model_conf.num_layers=4"                 # key=value pairs (--set) of the smaller teacher
rows="clean clean_old_voices clean_small"
sets="dev test test_noise10 test_noise0 test_reverb test_unseen_engine"
. utils/parse_options.sh

log=$out/log
feats() {  # feats DIR: features and CMVN of a train dir, once
  [ -f $1/cmvn.json ] && return 0
  utils/run_local.sh $log/feats_$(basename $1).log asr-kd compute-feats --config $config $1
  utils/run_local.sh $log/cmvn_$(basename $1).log asr-kd compute-cmvn $1
}
with_copy() {  # with_copy SUFFIX [--set KEY=VALUE]: $data/train_all$SUFFIX = train + copy train_aug$SUFFIX, features, once
  local suffix=$1; shift
  [ -f $data/train_all$suffix/cmvn.json ] && return 0
  utils/run_local.sh $log/augment$suffix.log asr-kd augment-data --data $data/train --out $data/train_aug$suffix \
    --config $augment_conf --nj 2 "$@"
  utils/run_local.sh $log/combine$suffix.log asr-kd combine-data $data/train_all$suffix $data/train $data/train_aug$suffix
  feats $data/train_all$suffix
}

# the recipe's teacher as a finished row: links to its files, so that its own decodes stay untouched
mkdir -p $out/recipe
for f in $exp/teacher/{final.pt,train.yaml,train_summary.json,epoch_*.pt}; do
  ln -sfn $(cd $(dirname $f) && pwd)/$(basename $f) $out/recipe/
done
grid=("recipe $(basename $(head -1 $exp/teacher/log/run.log | grep -o -- "--train [^ ]*" | cut -d" " -f2))")

for row in $rows; do
  case $row in
    clean) feats $data/train; grid+=("clean train") ;;
    clean_old_voices)
      sub=$data/train_old_voices
      if [ ! -f $sub/utt2spk ]; then
        mkdir -p $sub
        cp $data/train/{wav.scp,text,utt2dur} $sub/
        grep -Ev " ($new_voices)" $data/train/utt2spk > $sub/utt2spk
        utils/run_local.sh $log/fix_old_voices.log asr-kd fix-data $sub
      fi
      feats $sub
      grid+=("clean_old_voices train_old_voices") ;;
    clean_small) feats $data/train; grid+=("clean_small train $small_set") ;;
    aug) with_copy ""; grid+=("aug train_all") ;;
    no_speed|no_pitch|no_noise|no_reverb|no_telephone)
      off=${row#no_}
      [ $off = speed ] && set_off="speeds=[]" || set_off="${off}_prob=0"
      with_copy _$row --set "$set_off"
      grid+=("$row train_all_$row") ;;
    *) echo "$0: unknown row '$row' (clean, clean_old_voices, clean_small, aug, no_{speed,pitch,noise,reverb,telephone})" >&2
       exit 1 ;;
  esac
done
printf '%s\n' "${grid[@]}" > $out/ingredients.txt
local/teacher_sweep.sh --data $data --exp $out --grid $out/ingredients.txt --config $config --device cpu --sets "$sets"
