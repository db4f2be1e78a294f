#!/usr/bin/env bash
# GPU check: teacher training throughput (CPU preset and Conformer-L preset, bf16 autocast) and
# decoding RTF on CUDA vs CPU (1 thread) for trained models, on an already prepared data dir.
# Run from egs/synth/s0 on a machine with a GPU, e.g.
#   local/gpu_check.sh --data data_demo --exp exp_demo --out exp_demo/gpu_check
set -euo pipefail
. ./path.sh

data=data            # prepared data: train (feature cache), test (audio), lang/units.txt
exp=exp              # trained models: $exp/<model>/final.pt for the decode check
models="student_ctc student_kd"  # models of $exp to decode; the GPU-trained teachers are decoded too
out=exp/gpu_check    # where to write
epochs=2             # training epochs per preset
large_batch=20000    # max_frames_per_batch for the Conformer-L preset

. utils/parse_options.sh

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchaudio; print('torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
common="--train $data/train --units $data/lang/units.txt --cmvn $data/train/cmvn.json --device cuda"
asr-kd train --config conf/teacher.yaml --set train_conf.epochs=$epochs $common --exp $out/teacher
asr-kd train --config conf/teacher_large.yaml --set train_conf.epochs=$epochs \
  --set train_conf.max_frames_per_batch=$large_batch --set train_conf.warmup_steps=10 $common --exp $out/teacher_large
decoded=""
for m in teacher teacher_large $models; do
  ckpt=$exp/$m/final.pt
  case $m in teacher|teacher_large) ckpt=$out/$m/final.pt ;; esac
  for device in cuda cpu; do
    asr-kd decode --checkpoint $ckpt --data $data/test --out $out/decode/$m/decode_test_$device \
      --device $device --num-threads 1
  done
  decoded="$decoded $out/decode/$m"
done
for m in teacher teacher_large; do echo "$m training:"; cat $out/$m/train_summary.json; done
for device in cuda cpu; do
  asr-kd results --exp $decoded --sets test_$device --out $out/rtf_$device.md
done
