"""Torch-free edge runtime: Kaldi-compatible fbank (numpy), ONNX student models
(onnxruntime), greedy / prefix beam / beam + word n-gram LM decoding (flashlight-text), and
streaming. Installs with `pip install .` (no torch); nothing under this package imports torch."""
