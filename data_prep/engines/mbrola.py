"""MBROLA diphone voices us1, us2, us3, en1 through festival (festvox-us1 ...; MBROLA is
non-free with a non-commercial licence, so this engine is opt-in: --engines ...,mbrola)."""

from __future__ import annotations

from data_prep.engines import festival
from data_prep.engines.base import Speaker

NAME = "mbrola"
INSTALL = "apt-get install {} (non-free, non-commercial licence)"
# voice -> recorded person: en1 is built from CSTR's 'roger' diphones, festival's rab
VOICES = {"us1": "mbrola_us1", "us2": "mbrola_us2", "us3": "mbrola_us3", "en1": "rab"}
SPEAKERS = tuple(Speaker(f"mbrola_{v}", NAME, f"{v}_mbrola", p, f"festival festvox-{v}")
                 for v, p in VOICES.items())
jitter = festival.jitter
est_seconds = festival.est_seconds
synthesise = festival.synthesise


def available() -> set[str]:
    return {s.voice for s in SPEAKERS} & festival.voice_list()
