#!/usr/bin/env bash
# DDP check on a prepared corpus (default: the demo's): one training run three ways, on CPU with gloo:
# 1 process accumulating 2 batches per step, 2 processes of one node (torchrun --standalone), and
# 2 "nodes" of 1 process each on 127.0.0.1 (c10d rendezvous). All three take the same global batch,
# so their dev loss/CER should agree up to per-rank randomness (dropout, SpecAugment, silence padding).
# Prints a Markdown table of throughput (x real time) and dev results. Run from egs/synth/s0.
set -euo pipefail
. ./path.sh

data=data_demo              # prepared by `make demo` (stages 0-2)
exp=exp_ddp
config=conf/demo/teacher.yaml
epochs=1
port=29511
. utils/parse_options.sh

common=(--config $config --train $data/train --dev $data/dev --units $data/lang/units.txt
        --cmvn $data/train/cmvn.json --device cpu --set train_conf.epochs=$epochs)
run() {  # run NAME CMD...: once; skipped when NAME already has a final.pt
  local name=$1; shift
  [ -f $exp/$name/final.pt ] && echo "skipping: $exp/$name/final.pt exists" && return 0
  utils/run_local.sh $exp/$name.log "$@" --exp $exp/$name
}
run one_process asr-kd train "${common[@]}" --set train_conf.accum_grad=2 --set train_conf.num_threads=2
run standalone_2 torchrun --standalone --nproc-per-node=2 -m asr_kd train "${common[@]}" \
  --set train_conf.num_threads=1
if [ ! -f $exp/two_nodes/final.pt ]; then
  node=(torchrun --nnodes=2 --nproc-per-node=1 --rdzv-backend=c10d --rdzv-endpoint=127.0.0.1:$port
        --rdzv-id=ddp_check -m asr_kd train "${common[@]}" --set train_conf.num_threads=1 --exp $exp/two_nodes)
  utils/run_local.sh $exp/two_nodes.node1.log "${node[@]}" > /dev/null &
  utils/run_local.sh $exp/two_nodes.node0.log "${node[@]}"
  wait
fi

python3 - "$exp" <<'PY'
import json, sys
from pathlib import Path
exp = Path(sys.argv[1])
print("| run | ranks x accum_grad | steps | train time (s) | x real time | dev loss | dev CER (%) |")
print("|---|---|---|---|---|---|---|")
for name in ("one_process", "standalone_2", "two_nodes"):
    s = json.loads((exp / name / "train_summary.json").read_text())
    dev = [json.loads(l) for l in (exp / name / "log" / "metrics.jsonl").read_text().splitlines()]
    dev = [r for r in dev if "dev_loss" in r][-1]
    print(f"| {name} | {s['world_size']} x {s['accum_grad']} | {s['steps']} | {s['train_seconds']} | "
          f"{s['x_real_time']} | {dev['dev_loss']:.4f} | {100 * dev['dev_cer']:.2f} |")
PY
