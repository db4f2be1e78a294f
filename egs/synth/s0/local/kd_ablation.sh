#!/usr/bin/env bash
# KD ablation on a finished recipe run (issue 4): student variants distilled from the teacher's
# cached top-k posteriors, each adding one thing to the row above, decoded on dev/test; a table
# with the fraction of the teacher-student gap each recovers, and what KD costs (cache size per
# hour, epoch time with the cache vs an online teacher vs CTC only). Writes $exp/kd_ablation.md.
# Run from egs/synth/s0 after ./run.sh:  local/kd_ablation.sh [--data data] [--exp exp] [--unlab-hours 2]
set -euo pipefail
. ./path.sh
. ./cmd.sh

data=data
exp=exp
conf=conf
hours=6.6            # --hours, --kokoro-hours, --engine-share and --eval-utts of the recipe run
kokoro_hours=1.2     #   (the corpus is extended, not rebuilt; empty: prepare-synth's defaults)
engine_share=
eval_utts=40
seed=0
unlab_hours=2        # untranscribed audio synthesised for the unlabelled-data rows
blank_threshold=0.95 # frames where the teacher's blank posterior exceeds this carry no KD signal
max_delay=2          # spike delay tolerated by the delay-tolerant rows (40 ms frames)
kd_top_k=16          # as in run.sh

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
    $decode_cmd $exp/$name/log/decode_$set.log asr-kd decode --checkpoint $exp/$name/final.pt \
      --data $data/$set --out $exp/$name/decode_$set
    touch $exp/$name/decode_$set/.done
  done
}

if [ ! -f $data/train_unlab/.done ]; then  # untranscribed audio + its teacher 1-best (sequence-level KD)
  asr-kd prepare-synth --out $data --hours $hours --eval-utts-per-spk $eval_utts --seed $seed --unlab-hours $unlab_hours \
    ${kokoro_hours:+--kokoro-hours $kokoro_hours} ${engine_share:+--max-engine-share $engine_share}
  asr-kd compute-feats --config $conf/teacher.yaml $data/train_unlab
  asr-kd pseudo-label --checkpoint $exp/teacher/final.pt --data $data/train_unlab --out $data/train_unlab_pl
  asr-kd combine-data $data/train_plus_pl $data/train $data/train_unlab_pl
  asr-kd compute-feats --config $conf/teacher.yaml $data/train_plus_pl
  touch $data/train_unlab/.done
fi
cache=$exp/teacher/cache_train            # made by run.sh stage 5
cache_all=$exp/teacher/cache_train_unlab  # the same teacher over train + train_unlab
if [ ! -f $cache_all/.done ]; then
  asr-kd dump-teacher --checkpoint $exp/teacher/final.pt --data $data/train $data/train_unlab \
    --out $cache_all --top-k $kd_top_k
  touch $cache_all/.done
fi

variant kd_blank student_kd.yaml $data/train --teacher-cache $cache $blank
variant kd_blank_delay student_kd.yaml $data/train --teacher-cache $cache $blank $delay
variant kd_unlab student_kd.yaml $data/train --unlab $data/train_unlab --teacher-cache $cache_all $blank $delay
variant kd_unlab_seq student_kd.yaml $data/train_plus_pl --teacher-cache $cache_all $blank $delay
variant seq_kd_only student.yaml $data/train_plus_pl  # CTC on transcripts + teacher 1-best, no frame KD

if [ ! -f $exp/kd_online_1epoch/.done ]; then  # epoch time with the teacher run online (no cache)
  $train_cmd $exp/kd_online_1epoch/log/run.log asr-kd train --config $conf/student_kd.yaml $common \
    --train $data/train --exp $exp/kd_online_1epoch --teacher $exp/teacher/final.pt --set train_conf.epochs=1
  touch $exp/kd_online_1epoch/.done
fi

rows="student_ctc student_kd kd_blank kd_blank_delay kd_unlab kd_unlab_seq seq_kd_only teacher"
{
  echo "Rows add one thing each: student_kd = plain frame KD (w=0.5, T=1, top-$kd_top_k cache);"
  echo "kd_blank = + skip frames with teacher blank > $blank_threshold, KL over non-blank mass;"
  echo "kd_blank_delay = + best shift within ±$max_delay frames; kd_unlab = + $unlab_hours h untranscribed"
  echo "audio (KD term only); kd_unlab_seq = + teacher 1-best of that audio as CTC targets (sequence-level"
  echo "KD); seq_kd_only = CTC on transcripts + teacher 1-best, no frame KD."
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
for name, label in (("student_ctc", "CTC only"), ("student_kd", "KD, teacher cache"),
                    ("kd_online_1epoch", "KD, teacher online")):
    s = json.loads((exp / name / "train_summary.json").read_text())
    print(f"| {label} | {s['train_seconds'] / s['epochs']:.0f} | {s['x_real_time']:.0f} |")
s = json.loads((exp / "student_ctc" / "train_summary.json").read_text())
print(f"\nTraining on {s['device']}, {s['threads']} threads.")
PY
} > $exp/kd_ablation.md.tmp
mv $exp/kd_ablation.md.tmp $exp/kd_ablation.md
cat $exp/kd_ablation.md
