"""What every engine module shares: the speaker and utterance records and two subprocess helpers.

An engine module exposes NAME; INSTALL (install command, '{}' for the packages); SPEAKERS (every
voice it offers, installed or not); available() (the voices installed here); jitter(rng)
(per-utterance speed/pitch/stretch); est_seconds(utt) (duration estimate before rendering) and
synthesise(utt, text, path) (writes a wav at the engine's own rate; the caller resamples to 16 kHz).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

TIMEOUT = 120  # seconds before a hung synthesiser is killed


@dataclass(frozen=True)
class Speaker:
    """One voice of one engine (voice may carry a variant, e.g. a Kokoro style blend).

    person names the recorded person behind the voice, shared across engines built from the
    same recordings (CMU ARCTIC slt is flite, festival and RHVoice), so that splits can keep a
    person on one side; package names what to install when the voice is missing (the engine's
    INSTALL command formats it)."""
    spk: str
    engine: str
    voice: str
    person: str
    package: str


@dataclass(frozen=True)
class Utt:
    """One planned utterance: who says what, with which jitter (each engine uses its own)."""
    split: str
    utt_id: str
    spk: str
    engine: str
    voice: str
    text: str
    speed: int = 0        # espeak-ng -s words per minute; RHVoice -r percent
    pitch: int = 0        # espeak-ng -p 0-99; RHVoice -t percent
    stretch: float = 1.0  # duration factor (flite, festival, Kokoro 1/speed)


def listing(cmd: list[str], stdin: str = "") -> str:
    """Stdout of a short listing command ('' when it fails)."""
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False,
                              timeout=TIMEOUT).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def call(cmd: list[str], stdin: str | None = None) -> bool:
    """Run a synthesiser command; True when it exits 0."""
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False).returncode == 0
