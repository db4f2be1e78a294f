"""espeak-ng: formant synthesis, 8 English accents x 13 variants, speed and pitch jittered.

No recorded person is behind an espeak voice, so each speaker is its own 'person'."""

from __future__ import annotations

import random
import shutil

from data_prep.engines.base import Speaker, Utt, call, listing

NAME = "espeak"
INSTALL = "apt-get install {}"
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-029", "en-us-nyc")
VARIANTS = tuple(f"m{i}" for i in range(1, 9)) + tuple(f"f{i}" for i in range(1, 6))


def _speaker(voice: str) -> Speaker:
    spk = f"espeak_{voice}".replace("-", "_").replace("+", "_")
    return Speaker(spk, NAME, voice, spk, "espeak-ng")


SPEAKERS = tuple(_speaker(f"{a}+{v}") for a in ACCENTS for v in VARIANTS)


def available() -> set[str]:
    if shutil.which("espeak-ng") is None:
        return set()
    languages = {line.split()[1] for line in listing(["espeak-ng", "--voices=en"]).splitlines()[1:]}
    variants = {line.split()[4].removeprefix("!v/")
                for line in listing(["espeak-ng", "--voices=variant"]).splitlines()[1:]}
    return {s.voice for s in SPEAKERS
            if s.voice.split("+")[0] in languages and s.voice.split("+")[1] in variants}


def jitter(rng: random.Random) -> dict:
    return {"speed": rng.randint(140, 190), "pitch": rng.randint(35, 65)}


def est_seconds(utt: Utt) -> float:
    """Least-squares fit on rendered utterances."""
    return 0.65 + 0.7 * len(utt.text.split()) * 60.0 / utt.speed


def synthesise(utt: Utt, text: str, path: str) -> bool:
    return call(["espeak-ng", "-v", utt.voice, "-s", str(utt.speed), "-p", str(utt.pitch),
                 "-w", path, text])
