"""Data layer: Kaldi data directories, audio loading, token units, batching."""
