"""flite: CMU diphone (kal16) and ARCTIC (awb, rms, slt) voices, duration stretch jittered."""

from __future__ import annotations

import random
import shutil

from data_prep.engines.base import Speaker, Utt, call, listing

NAME = "flite"
INSTALL = "apt-get install {}"
# voice -> recorded person ("kal" is 8 kHz, so only kal16)
VOICES = {"kal16": "kal", "awb": "arctic_awb", "rms": "arctic_rms", "slt": "arctic_slt"}
SPEAKERS = tuple(Speaker(f"flite_{v}", NAME, v, p, "flite") for v, p in VOICES.items())


def available() -> set[str]:
    if shutil.which("flite") is None:
        return set()
    return set(listing(["flite", "-lv"]).split(":", 1)[-1].split()) & set(VOICES)


def jitter(rng: random.Random) -> dict:
    return {"stretch": round(rng.uniform(0.9, 1.15), 3)}


def est_seconds(utt: Utt) -> float:
    return 0.8 + 0.27 * len(utt.text.split()) * utt.stretch


def synthesise(utt: Utt, text: str, path: str) -> bool:
    return call(["flite", "-voice", utt.voice, "--setf", f"duration_stretch={utt.stretch}",
                 "-t", text, "-o", path])
