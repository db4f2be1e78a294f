"""Speech synthesisers behind one interface (see base.py): one module per engine, each voice a
speaker, missing engines or voices reported in one line each instead of failing."""

from __future__ import annotations

from pathlib import Path

from data_prep.engines import espeak, festival, flite, kokoro, mbrola, rhvoice
from data_prep.engines.base import Speaker, Utt

ENGINES = {m.NAME: m for m in (espeak, flite, festival, rhvoice, kokoro, mbrola)}
DEFAULT_ENGINES = ("espeak", "flite", "festival", "rhvoice", "kokoro")  # mbrola: opt-in licence


def find_speakers(engines: tuple[str, ...] = DEFAULT_ENGINES) -> tuple[dict[str, Speaker], list[str]]:
    """Installed speakers of the given engines by id, and one line per engine with missing
    voices naming them and what to install."""
    speakers, missing = {}, []
    for name in engines:
        installed = ENGINES[name].available()
        absent = []
        for s in ENGINES[name].SPEAKERS:
            if s.voice in installed:
                speakers[s.spk] = s
            else:
                absent.append(s)
        if absent:
            shown = " ".join(s.spk for s in absent[:4]) + (" ..." if len(absent) > 4 else "")
            packages = " ".join(dict.fromkeys(p for s in absent for p in s.package.split()))
            missing.append(f"{name}: {len(absent)} voice(s) not installed, left out ({shown}); "
                           f"install: {ENGINES[name].INSTALL.format(packages)}")
    return dict(sorted(speakers.items())), missing


def est_seconds(utt: Utt) -> float:
    """Duration estimate from the word count, to fill hours before anything is rendered."""
    return ENGINES[utt.engine].est_seconds(utt)


def setup(engines: set[str], cache: Path) -> None:
    """One-off preparation in the parent process, before any worker starts."""
    if "kokoro" in engines:
        kokoro.setup(cache / "kokoro")


def init_worker() -> None:
    """A new worker owns no festival process yet (one inherited from the parent is the parent's)."""
    festival.reset()
