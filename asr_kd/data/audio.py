"""Load audio as mono float32 at 16 kHz: soundfile for I/O, soxr for resampling."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

if TYPE_CHECKING:  # kaldi_dir reads audio durations from here: no import at run time
    from asr_kd.data.kaldi_dir import Utterance

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 1000  # below this a header is corrupt (resampling it would make hours of audio)
MAX_OVERSHOOT_S = 0.5  # Kaldi's extract-segments --max-overshoot: a segment may end this far past its file


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file."""


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(S,) or (S, C) samples at any rate -> (S',) float32 at 16 kHz; channels are averaged."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:  # one channel: a view, not a copy (a 10-minute file is 38 MB of float32)
        samples = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)
    if sample_rate != SAMPLE_RATE:
        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE).astype(np.float32)
    return samples


def is_pipe(rxfile: str) -> bool:
    """Kaldi's `<command> |` wav.scp entries: the command's stdout is the audio."""
    return rxfile.rstrip().endswith("|")


def _read_pipe(rxfile: str) -> tuple[np.ndarray, int]:
    """Run a `<command> |` entry (only ever reached behind an explicit --allow-pipes) and decode stdout."""
    cmd = rxfile.rstrip()[:-1]
    proc = subprocess.run(cmd, shell=True, capture_output=True, check=False)
    if proc.returncode != 0:
        raise AudioError(f"{cmd!r}: command failed (exit {proc.returncode}): "
                         f"{proc.stderr.decode(errors='replace').strip()[-200:]}")
    return sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)


def check_finite(wave: np.ndarray, what: str) -> None:
    """NaN or inf samples would decode to a silently wrong transcript: refuse them. A finite float64 sum
    clears the audio without a mask as large as it; otherwise the bad samples are counted."""
    if np.isfinite(np.sum(wave, dtype=np.float64)):
        return
    bad = np.size(wave) - int(np.isfinite(wave).sum())
    if bad:
        raise AudioError(f"{what}: {bad} NaN or inf sample(s) of {np.size(wave)}")


def _sample_span(rate: int, frames: int, start: float | None, end: float | None) -> tuple[int, int]:
    """[first, last) samples of [start, end) seconds (None: from the start / to the end) of `frames` at `rate`."""
    first = 0 if start is None else int(round(start * rate))
    return first, frames if end is None else min(int(round(end * rate)), frames)


def load_audio(path: str, start: float | None = None, end: float | None = None,
               allow_pipes: bool = False) -> np.ndarray:
    """Read `path` (only [start, end) seconds when given) -> (S,) float32 mono 16 kHz in [-1, 1].
    Multi-channel audio is mixed down (channels averaged); any sample rate is resampled.
    A `<command> |` path runs the command only with `allow_pipes` (wav.scp entries behind the
    --allow-pipes opt-in); otherwise it is a file name like any other."""
    try:
        if allow_pipes and is_pipe(path):
            samples, sr = _read_pipe(path)
            first = int(round((start or 0) * sr))
            samples = samples[first: None if end is None else int(round(end * sr))]
        else:
            info = sf.info(path)
            if info.samplerate < MIN_SAMPLE_RATE:
                raise AudioError(f"{path}: implausible sample rate {info.samplerate} Hz in the header")
            sr = info.samplerate
            first, last = _sample_span(sr, info.frames, start, end)
            if end is not None and end * sr > info.frames + MAX_OVERSHOOT_S * sr:
                raise AudioError(f"{path}: segment end {end:.3f} s is past the end of the recording "
                                 f"({info.frames / sr:.3f} s) by more than {MAX_OVERSHOOT_S} s")
            samples, sr = sf.read(path, start=first, stop=None if end is None else last, dtype="float32",
                                  always_2d=True)  # whole files to their end, whatever the header says
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: no samples" + (f" in [{start}, {end}] s" if start is not None else ""))
    wave = to_mono_16k(samples, sr)
    check_finite(wave, path)
    return wave


def audio_input(audio, sample_rate: int | None = None) -> np.ndarray:
    """What the decode APIs accept -> (S,) float32 at 16 kHz: a file path (any rate, channels averaged;
    always a file name, never a pipe), or a mono float array at `sample_rate` (default 16000). Arrays
    that cannot give a correct transcript are one-line AudioErrors."""
    if isinstance(audio, (str, Path)):
        if sample_rate is not None:
            raise ValueError("sample_rate is for arrays; a file's rate is read from its header")
        return load_audio(str(audio))
    wave = np.asarray(audio)
    if wave.ndim != 1:
        raise AudioError(f"expected a mono (S,) array, got shape {wave.shape}; average the channels "
                         "first (e.g. wave.mean(axis=1)) or pass the file path")
    if not np.issubdtype(wave.dtype, np.floating):
        raise AudioError(f"expected float samples in [-1, 1], got {wave.dtype}; for int16 use wave / 32768")
    if wave.size == 0:
        raise AudioError("empty audio")
    check_finite(wave, "audio array")
    if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate < 1000):
        raise AudioError(f"sample_rate must be an integer in Hz (e.g. 16000), got {sample_rate!r}")
    return to_mono_16k(wave, sample_rate or 16000)


def load_utterance(utt: Utterance, allow_pipes: bool = False) -> np.ndarray:
    """Audio of one data-dir utterance -> (S,) float32 mono 16 kHz (`allow_pipes`: see load_audio)."""
    try:
        return load_audio(utt.path, utt.start, utt.end, allow_pipes)
    except AudioError as e:
        raise AudioError(f"utterance {utt.utt}: {e}") from None


def audio_samples(utt: Utterance) -> int:
    """(S,) length `load_utterance` gives `utt` (a file, not a pipe), from the header alone: exact at
    16 kHz, the resampled length rounded otherwise (the resampler may differ by a sample)."""
    try:
        info = sf.info(utt.path)
    except (sf.LibsndfileError, RuntimeError, FileNotFoundError) as e:
        raise AudioError(f"utterance {utt.utt}: {utt.path}: cannot read audio header ({e})") from None
    first, last = _sample_span(info.samplerate, info.frames, utt.start, utt.end)
    n = max(0, last - first)
    return n if info.samplerate == SAMPLE_RATE else round(n * SAMPLE_RATE / info.samplerate)


def audio_duration(path: str) -> float:
    """Duration in seconds from the file header alone (no decoding), for utt2dur."""
    try:
        return sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError, FileNotFoundError) as e:
        raise AudioError(f"{path}: cannot read audio header ({e})") from None
