"""Torch-free transcription with the edge runtime (`pip install .`): a file, then the same file as a live
stream read in 320 ms chunks as a microphone would deliver them. Usage: python edge_transcribe.py MODEL.onnx A.wav
(MODEL from `asr-kd export --streaming`)."""

import sys

import soundfile as sf

from asr_kd.edge.recognizer import EdgeRecognizer

rec = EdgeRecognizer(sys.argv[1], num_threads=1)
print("file:  ", rec.transcribe(sys.argv[2]).text)
stream = rec.stream()
for block in sf.blocks(sys.argv[2], blocksize=5120, dtype="float32"):  # 16 kHz mono: 320 ms per block
    stream.accept(block)
    print("partial:", stream.partial())
print("stream:", stream.finish().text)
