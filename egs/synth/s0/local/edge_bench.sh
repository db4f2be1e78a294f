#!/usr/bin/env bash
# Edge table on a finished recipe run: the KD student in the torch-free runtime (asr_kd.edge), installed
# with one pip command into a fresh venv, against the torch path and against Whisper tiny.en and
# pocketsphinx (their own fresh venv: runtime + `.[peers]`). Exports fp32, static and hybrid int8,
# offline and streaming; WER of each offline export on test (through `asr-kd decode`, 1 thread); the
# edge decoders (greedy, beam, beam + LM) against the torch path's text; `asr-kd-edge bench` (RTF at 1
# pinned and 2 threads, streaming latency at 160/320/640 ms, cold start, peak RSS of a 10-minute file,
# model and install sizes). Writes $out/edge.md.
# Run from egs/synth/s0 after ./run.sh, with nothing else running:  local/edge_bench.sh
set -euo pipefail
. ./path.sh

data=data
exp=exp
model=student_kd
out=exp/edge_bench
bench_utts=100   # test utterances timed by the bench (all of them are decoded for WER)
peers=true       # false: skip the Whisper / pocketsphinx venv (downloads from PyPI)
peer_utts=40     # peers are 50-100x slower: fewer utterances, one timed pass, a 2-minute long file
peer_long_minutes=2
lm_beam_size=50

. utils/parse_options.sh

root=$(cd ../../.. && pwd)
ckpt=$exp/$model/avg.pt
[ -f $ckpt ] || ckpt=$exp/$model/final.pt
mkdir -p $out

echo "runtime venv: pip install $root (no extra)"
rm -rf $out/venv && python3 -m venv $out/venv
$out/venv/bin/pip install -q --upgrade pip
$out/venv/bin/pip install -q $root
if $out/venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
  echo "$0: torch got installed into the runtime venv" >&2; exit 1
fi
size=$(du -sm $out/venv | cut -f1)

echo "exports of $ckpt"
asr-kd export --checkpoint $ckpt --out $out/$model.onnx
asr-kd export --checkpoint $ckpt --out $out/${model}_stream.onnx --streaming
for mode in static hybrid; do
  asr-kd export --checkpoint $ckpt --out $out/${model}_int8_$mode.onnx --int8 $mode --calib $data/dev
  asr-kd export --checkpoint $ckpt --out $out/${model}_stream_int8_$mode.onnx --streaming --int8 $mode \
    --calib $data/dev
done

echo "WER of the offline exports on test (1 thread)"
for m in $model ${model}_int8_static ${model}_int8_hybrid; do
  asr-kd decode --checkpoint $out/$m.onnx --data $data/test --out $out/$m/decode_test --num-threads 1
done
asr-kd decode --checkpoint $out/$model.onnx --data $data/test --out $out/$model/decode_test_beam --decoder beam \
  --num-threads 1
asr-kd decode --checkpoint $out/$model.onnx --data $data/test --out $out/$model/decode_test_lm --decoder beam \
  --beam-size $lm_beam_size --lm $data/lang/lm.arpa --num-threads 1

echo "edge decoders vs the torch path (same export)"
rm -f $out/decoders.txt
declare -A dec_args=([test]="" [test_beam]="--decoder beam" \
  [test_lm]="--decoder beam --beam-size $lm_beam_size --lm $data/lang/lm.arpa")
for d in test test_beam test_lm; do
  $out/venv/bin/asr-kd-edge decode --model $out/$model.onnx --data $data/test --out $out/edge_$d.txt ${dec_args[$d]}
  n=$(wc -l < $out/edge_$d.txt)
  diff=$(comm -23 <(sort $out/edge_$d.txt) <(sort $out/$model/decode_$d/text) | wc -l)
  echo "$d: $diff of $n utterances differ" >> $out/decoders.txt
done

echo "torch path RTF (asr-kd bench --edge: 1 thread pinned to core 0)"
asr-kd bench --checkpoint $ckpt --data $data/test --out $out/torch --edge --max-utts $bench_utts

echo "edge bench in the runtime venv"
$out/venv/bin/asr-kd-edge bench --engines $out/${model}_stream.onnx $out/${model}_stream_int8_static.onnx \
  $out/${model}_stream_int8_hybrid.onnx $out/$model.onnx --data $data/test --out $out/runtime \
  --max-utts $bench_utts --env $out/venv

if $peers; then
  echo "peers venv: pip install '$root[peers]'"
  rm -rf $out/peers_venv && python3 -m venv $out/peers_venv
  $out/peers_venv/bin/pip install -q --upgrade pip
  $out/peers_venv/bin/pip install -q "$root[peers]"
  $out/peers_venv/bin/asr-kd-edge bench --engines peer:whisper-tiny.en peer:pocketsphinx --data $data/test \
    --out $out/peers --max-utts $peer_utts --repeats 1 --long-minutes $peer_long_minutes --env $out/peers_venv
fi

{
  echo "Runtime venv \`pip install .\`: ${size} MB on disk (du -sm, pip included), no torch."
  echo
  echo "WER on \`$data/test\` (all utterances, \`asr-kd decode\` of the ONNX exports, 1 thread):"
  echo
  echo "| export | WER | CER | RTF total |"
  echo "|---|---|---|---|"
  for m in $model ${model}_int8_static ${model}_int8_hybrid; do
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"| $m | {r['wer']:.2f} | {r['cer']:.2f} | {r['rtf']['rtf_total']:.4f} |\")" \
      $out/$m/decode_test/result.json
  done
  echo
  echo "Edge decoders against the torch path on the same export (utterances whose text differs):"
  echo
  sed 's/^/- /' $out/decoders.txt
  echo
  echo "Torch path (\`asr-kd bench --edge\`):"
  echo
  cat $out/torch/bench.md
  echo
  echo "Torch-free runtime (\`asr-kd-edge bench\`):"
  echo
  cat $out/runtime/bench.md
  if [ -f $out/peers/bench.md ]; then  # from this run, or from an earlier one with --peers true
    echo
    echo "Peers (\`asr-kd-edge bench\` in a venv with \`.[peers]\`):"
    echo
    cat $out/peers/bench.md
  fi
} > $out/edge.md
echo "$out/edge.md"
