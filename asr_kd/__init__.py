"""asr-kd: distil a Conformer CTC teacher into a small CNN-RNN CTC student, and measure WER/RTF."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from asr_kd import Recognizer` without importing torch for every `asr_kd` import
    (Result and WordTime need no torch at all)."""
    if name == "Recognizer":
        from asr_kd.recognizer import Recognizer

        return Recognizer
    if name in ("Result", "WordTime"):
        from asr_kd import ctc_search

        return getattr(ctc_search, name)
    raise AttributeError(f"module 'asr_kd' has no attribute {name!r}")
