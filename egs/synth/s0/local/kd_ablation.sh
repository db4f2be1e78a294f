#!/usr/bin/env bash
# KD ablation on a finished recipe run (issue 4): student variants distilled from the teacher's
# cached top-k posteriors, each adding one thing to plain frame KD, decoded on dev/test; a table
# with the fraction of the teacher-student gap each recovers, and what KD costs (cache size per
# hour, epoch time with the cache vs an online teacher vs CTC only). Writes $exp/kd_ablation.md.
# The variants train on the recipe's training set and its teacher-labelled untranscribed audio (run.sh
# stage 5); after a run with --unlab-hours 0 the script synthesises and labels that audio itself.
# Run from egs/synth/s0 after ./run.sh:  local/kd_ablation.sh [--data data] [--exp exp] [--unlab-hours 2]
set -euo pipefail
. ./path.sh
. ./cmd.sh

data=data
exp=exp
conf=conf
hours=6.4            # --hours, --kokoro-hours, --engine-share and --eval-utts of the recipe run
kokoro_hours=1.0     #   (the corpus is extended, not rebuilt; empty: prepare-synth's defaults)
engine_share=
eval_utts=40
seed=0
unlab_hours=2        # untranscribed audio synthesised when the recipe run made none
blank_threshold=0.95 # frames where the teacher's blank posterior exceeds this carry no KD signal
max_delay=2          # spike delay tolerated by the delay-tolerant rows (40 ms frames)
kd_top_k=16          # as in run.sh
lm_beam_size=1000    # as in run.sh: the pseudo-labels are the teacher's beam search with the LM
lm_weight=2.0

. utils/parse_options.sh

train=train; [ -f $data/train_all/feats.idx ] && train=train_all  # the recipe's training set
pl=${train}_pl                                                    # + the teacher-labelled untranscribed audio
ckpt=avg.pt; [ -f $exp/teacher/avg.pt ] || ckpt=final.pt          # the teacher checkpoint run.sh decodes
common="--dev $data/dev --units $data/lang/units.txt --cmvn $data/$train/cmvn.json --resume"
blank="--set kd_conf.blank_threshold=$blank_threshold --set kd_conf.nonblank_only=true"
delay="--set kd_conf.max_delay=$max_delay"

variant() {  # variant NAME CONFIG TRAIN_DIR [extra train args...]
  local name=$1 config=$2 train_dir=$3; shift 3
  if [ ! -f $exp/$name/.done ]; then
    $train_cmd $exp/$name/log/run.log asr-kd train --config $conf/$config $common --train $train_dir \
      --exp $exp/$name "$@"
    touch $exp/$name/.done
  fi
  for set in dev test; do
    [ -f $exp/$name/decode_$set/.done ] && continue
    $decode_cmd $exp/$name/log/decode_$set.log asr-kd decode --checkpoint $exp/$name/final.pt \
      --data $data/$set --out $exp/$name/decode_$set
    touch $exp/$name/decode_$set/.done
  done
}

if [ ! -f $data/$pl/.done ]; then  # a recipe run without untranscribed audio: synthesise + label it now
  asr-kd prepare-synth --out $data --hours $hours --eval-utts-per-spk $eval_utts --seed $seed --unlab-hours $unlab_hours \
    ${kokoro_hours:+--kokoro-hours $kokoro_hours} ${engine_share:+--max-engine-share $engine_share}
  asr-kd pseudo-label --checkpoint $exp/teacher/$ckpt --data $data/train_unlab --out $data/train_unlab_pl \
    --decoder beam --beam-size $lm_beam_size --lm $data/lang/lm.arpa --lm-weight $lm_weight
  asr-kd combine-data $data/$pl $data/$train $data/train_unlab_pl
  asr-kd compute-feats --config $conf/teacher.yaml $data/$pl
  touch $data/$pl/.done
fi
[ -f $data/train_unlab/feats.idx ] || asr-kd compute-feats --config $conf/teacher.yaml $data/train_unlab
cache=$exp/teacher/cache_${train}_unlab  # the teacher over $train + all the untranscribed audio
if [ ! -f $cache/.done ]; then
  asr-kd dump-teacher --checkpoint $exp/teacher/$ckpt --data $data/$train $data/train_unlab --out $cache --top-k $kd_top_k
  touch $cache/.done
fi

variant kd_frame student_kd.yaml $data/$train --teacher-cache $cache
variant kd_blank student_kd.yaml $data/$train --teacher-cache $cache $blank
variant kd_blank_delay student_kd.yaml $data/$train --teacher-cache $cache $blank $delay
variant kd_unlab student_kd.yaml $data/$train --unlab $data/train_unlab --teacher-cache $cache
variant kd_unlab_seq student_kd.yaml $data/$pl --teacher-cache $cache
variant seq_kd_only student.yaml $data/$pl  # CTC on transcripts + teacher 1-best, no frame KD

if [ ! -f $exp/kd_online_1epoch/.done ]; then  # epoch time with the teacher run online (no cache)
  $train_cmd $exp/kd_online_1epoch/log/run.log asr-kd train --config $conf/student_kd.yaml $common \
    --train $data/$train --exp $exp/kd_online_1epoch --teacher $exp/teacher/$ckpt --set train_conf.epochs=1
  touch $exp/kd_online_1epoch/.done
fi

rows="student_ctc kd_frame kd_blank kd_blank_delay kd_unlab kd_unlab_seq seq_kd_only teacher"
{
  echo "Students on $train: kd_frame = frame KD with conf/student_kd.yaml (top-$kd_top_k cache of $ckpt);"
  echo "kd_blank = + skip frames with teacher blank > $blank_threshold, KL over non-blank mass;"
  echo "kd_blank_delay = + best shift within ±$max_delay frames. kd_unlab = kd_frame + the untranscribed audio"
  echo "(data/train_unlab, KD term only); kd_unlab_seq = kd_frame + that audio with the teacher's 1-best as"
  echo "CTC targets (sequence-level KD; run.sh's student_kd); seq_kd_only = CTC on transcripts + teacher 1-best."
  echo
  asr-kd results --exp $(for r in $rows; do echo $exp/$r; done) --sets dev test --gap
  echo
  python3 - $exp $cache <<'PY'
import json, sys
from pathlib import Path
exp, cache = Path(sys.argv[1]), Path(sys.argv[2])
meta = json.loads((cache / "meta.json").read_text())
hours = meta["frames"] * 0.04 / 3600
print(f"KD cost: teacher cache top-{meta['top_k']} fp16 = {meta['bytes'] / 1e6:.1f} MB for {hours:.2f} h "
      f"= {meta['bytes'] / 1e6 / hours:.1f} MB per hour of audio.\n")
print("| student training | seconds per epoch | x real time |")
print("|---|---|---|")
for name, label in (("student_ctc", "CTC only"), ("kd_frame", "KD, teacher cache"),
                    ("kd_online_1epoch", "KD, teacher online")):
    s = json.loads((exp / name / "train_summary.json").read_text())
    print(f"| {label} | {s['train_seconds'] / s['epochs']:.0f} | {s['x_real_time']:.0f} |")
s = json.loads((exp / "student_ctc" / "train_summary.json").read_text())
print(f"\nTraining on {s['device']}, {s['threads']} threads.")
PY
} > $exp/kd_ablation.md.tmp
mv $exp/kd_ablation.md.tmp $exp/kd_ablation.md
cat $exp/kd_ablation.md
