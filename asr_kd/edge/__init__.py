"""Torch-free edge runtime: Kaldi-compatible fbank (kaldi-native-fbank), ONNX student models
(onnxruntime), greedy / prefix beam / beam + word n-gram LM decoding (flashlight-text), and
streaming. Installs with `pip install .` (no torch); nothing under this package imports torch."""
