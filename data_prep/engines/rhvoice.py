"""RHVoice: statistical parametric voices trained on CMU ARCTIC bdl, clb and slt (LGPL), rate
and pitch jittered. alan (ARCTIC awb) is left out because awb trains through flite; lyubov and
evgeniy-eng are CC-BY-NC-ND and never used."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from data_prep.engines.base import Speaker, Utt, call

NAME = "rhvoice"
INSTALL = "apt-get install {} (Debian non-free; make deb enables it)"
VOICES = ("bdl", "clb", "slt")
SPEAKERS = tuple(Speaker(f"rhvoice_{v}", NAME, v, f"arctic_{v}", "rhvoice rhvoice-english") for v in VOICES)
# RHVoice-test silently falls back to another voice for an unknown profile, so look for the data.
VOICE_DIRS = (Path("/usr/share/RHVoice/voices"), Path("/usr/local/share/RHVoice/voices"))


def available() -> set[str]:
    if shutil.which("RHVoice-test") is None:
        return set()
    return {v for v in VOICES if any((d / v).is_dir() for d in VOICE_DIRS)}


def jitter(rng: random.Random) -> dict:
    return {"speed": rng.randint(85, 115), "pitch": rng.randint(90, 110)}


def est_seconds(utt: Utt) -> float:
    return 0.35 + 0.28 * len(utt.text.split()) * 100 / utt.speed


def synthesise(utt: Utt, text: str, path: str) -> bool:
    return call(["RHVoice-test", "-p", utt.voice, "-r", str(utt.speed), "-t", str(utt.pitch),
                 "-o", path], stdin=text)
