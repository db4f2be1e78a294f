"""asr-kd: distil a Conformer CTC teacher into a small CNN-RNN CTC student, and measure WER/RTF."""

__version__ = "0.1.0"
