"""festival: diphone voices kal, ked, rab, don and the slt HTS voice, one persistent festival
process per voice in each worker: the voice loads once instead of once per utterance, and no voice
sees Scheme state another left behind (a don wav came out different after an slt_hts utterance)."""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
from functools import lru_cache

from data_prep.engines.base import TIMEOUT, Speaker, Utt, listing

NAME = "festival"
INSTALL = "apt-get install {}"
# speaker id suffix -> (festival voice, recorded person, Debian package)
VOICES = {"kal": ("kal_diphone", "kal", "festvox-kallpc16k"),
          "ked": ("ked_diphone", "ked", "festvox-kdlpc16k"),
          "slt_hts": ("cmu_us_slt_arctic_hts", "arctic_slt", "festvox-us-slt-hts festlex-cmu"),
          "rab": ("rab_diphone", "rab", "festvox-rablpc16k"),
          "don": ("don_diphone", "don", "festvox-don")}  # contrib
SPEAKERS = tuple(Speaker(f"festival_{name}", NAME, voice, person, f"festival {pkg}")
                 for name, (voice, person, pkg) in VOICES.items())

_procs: dict[str, subprocess.Popen] = {}  # festival voice -> this worker's process for it, kept across calls


@lru_cache(maxsize=1)
def voice_list() -> frozenset[str]:
    """Every voice festival has installed (MBROLA ones included)."""
    if shutil.which("festival") is None:
        return frozenset()
    return frozenset(listing(["festival", "--pipe"], "(print (voice.list))").strip("()\n").split())


def available() -> set[str]:
    return {s.voice for s in SPEAKERS} & voice_list()


def jitter(rng: random.Random) -> dict:
    return {"stretch": round(rng.uniform(0.9, 1.15), 3)}


def est_seconds(utt: Utt) -> float:
    return 0.95 + 0.25 * len(utt.text.split()) * utt.stretch


def reset() -> None:
    """Forget the festival processes inherited from the parent (a new worker starts its own)."""
    _procs.clear()


def evaluate(expr: str, voice: str) -> str:
    """Evaluate Scheme in this worker's festival process for `voice` (started on first use,
    restarted after a failure) and return its output."""
    proc = _procs.get(voice)
    if proc is None or proc.poll() is not None:
        proc = _procs[voice] = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, text=True,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watchdog = threading.Timer(TIMEOUT, proc.kill)
    watchdog.start()
    try:
        proc.stdin.write(f'{expr}\n(print "DONE")(fflush nil)\n')  # flush, or the pipe stalls
        proc.stdin.flush()
        lines = []
        while not (line := proc.stdout.readline()).endswith('"DONE"\n'):
            if not line:
                raise OSError(f"festival exited: {''.join(lines)}")
            lines.append(line)
        return "".join(lines)
    finally:
        watchdog.cancel()


def synthesise(utt: Utt, text: str, path: str) -> bool:
    """The voice sets its own Duration_Stretch (HTS ignores it and takes a speed rate -r);
    text holds only a-z, ' and spaces, so it is a safe Scheme string."""
    expr = (f"(voice_{utt.voice})(Parameter.set 'Duration_Stretch "
            f"(* {utt.stretch} (Parameter.get 'Duration_Stretch)))")
    if utt.voice.endswith("_hts"):
        expr += f'(set! hts_engine_params (cons (list "-r" {1 / utt.stretch:.4f}) hts_engine_params))'
    expr += f'(utt.save.wave (SynthText "{text}") "{path}" \'riff)'
    return "SIOD ERROR" not in evaluate(expr, utt.voice)
