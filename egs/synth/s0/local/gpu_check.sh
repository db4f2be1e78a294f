#!/usr/bin/env bash
# GPU check on an already prepared data dir: training throughput on CUDA (bf16 autocast) of the
# teacher presets (CPU-sized and Conformer-L), the student and the KD student, then decoding RTF of
# each on CUDA and on CPU (1 thread). Few epochs: this measures speed, not accuracy.
# Run from egs/synth/s0 on a machine with a GPU, e.g.  local/gpu_check.sh --data data_demo
set -euo pipefail
. ./path.sh

data=data            # prepared data: train (feature cache), test (audio), lang/units.txt
out=exp/gpu_check    # where to write
epochs=3             # training epochs per preset
batch=20000          # max_frames_per_batch on the GPU (the CPU presets use 4000)

. utils/parse_options.sh

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchaudio; print('torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
common="--train $data/train --units $data/lang/units.txt --cmvn $data/train/cmvn.json --device cuda"
train() {  # train NAME CONFIG [extra args...]
  local name=$1 config=$2; shift 2
  asr-kd train --config $config --set train_conf.epochs=$epochs --set train_conf.warmup_steps=10 \
    --set train_conf.max_frames_per_batch=$batch \
    $common --exp $out/$name "$@"
  echo "$name training:"; cat $out/$name/train_summary.json
}
train teacher conf/teacher.yaml
train teacher_large conf/teacher_large.yaml
train student_ctc conf/student.yaml
train student_kd conf/student_kd.yaml --teacher $out/teacher/final.pt
models="teacher teacher_large student_ctc student_kd"
for m in $models; do
  for device in cuda cpu; do
    asr-kd decode --checkpoint $out/$m/final.pt --data $data/test --out $out/$m/decode_test_$device \
      --device $device --num-threads 1
  done
done
for device in cuda cpu; do
  asr-kd results --exp $(for m in $models; do echo $out/$m; done) --sets test_$device --out $out/rtf_$device.md
done
