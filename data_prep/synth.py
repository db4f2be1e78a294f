"""Default offline corpus: espeak-ng and flite voices reading Debian text, as Kaldi data dirs.

Each (engine, voice) pair is one speaker. Dev and test speakers are fixed below and never
appear in train; dev, test and train sentences come from disjoint pools of the shuffled
sentence list. Everything is determined by --seed (and the installed text/voices), so a rerun
with the same arguments resumes an interrupted run and rewrites byte-identical text files.

Layout: OUT/{train,dev,test}/{wav.scp,text,utt2spk,spk2utt,utt2dur} and OUT/wav/<spk>/<utt>.wav
(16 kHz mono 16-bit PCM).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from data_prep.text_sources import NoTextError, load_sentences

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
ESPEAK_VARIANTS = tuple(f"m{i}" for i in range(1, 9)) + tuple(f"f{i}" for i in range(1, 6))
FLITE_VOICES = ("kal16", "awb", "rms", "slt")  # "kal" is 8 kHz, so only kal16
# Held-out speakers: fixed, independent of --hours, disjoint from each other and from train.
TEST_SPEAKERS = ("espeak_en_gb_scotland_m2", "espeak_en_us_f4", "espeak_en_029_m5",
                 "espeak_en_gb_x_rp_f2", "flite_rms")
DEV_SPEAKERS = ("espeak_en_us_nyc_m6", "espeak_en_gb_f3", "espeak_en_gb_x_gbclan_m4", "flite_slt")
# Sentences reserved for each of dev and test (the first ones of the shuffled list), so that
# the train pool does not depend on --eval-utts-per-spk; capped at a tenth of the sentences.
EVAL_POOL = 2000
SPLITS = ("train", "dev", "test")


class SynthError(RuntimeError):
    """A user-facing failure (missing engine or voice, bad arguments, foreign output dir)."""


@dataclass(frozen=True)
class Utt:
    """One planned utterance: who says what, with which jitter, and where the wav goes."""
    split: str
    utt_id: str
    spk: str
    engine: str
    voice: str
    text: str
    speed: int = 0        # espeak-ng -s (words per minute)
    pitch: int = 0        # espeak-ng -p (0-99)
    stretch: float = 1.0  # flite duration_stretch

    def est_seconds(self) -> float:
        """Duration estimate from the word count (least-squares fit on 789 rendered
        utterances here), used only to fill --hours of train before anything is rendered."""
        words = len(self.text.split())
        if self.engine == "espeak-ng":
            return 0.65 + 0.7 * words * 60.0 / self.speed
        return 0.8 + 0.27 * words * self.stretch


def speaker_id(engine: str, voice: str) -> str:
    """Kaldi speaker id: 'espeak' or 'flite' plus the voice, '-' and '+' mapped to '_'."""
    name = "espeak" if engine == "espeak-ng" else engine
    return f"{name}_{voice}".replace("-", "_").replace("+", "_")


def _run(cmd: list[str]) -> str:
    """Stdout of a short listing command."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def available_speakers() -> dict[str, tuple[str, str]]:
    """Map speaker id -> (engine, voice) for the wanted voices that are installed here."""
    for exe, pkg in (("espeak-ng", "espeak-ng"), ("flite", "flite")):
        if shutil.which(exe) is None:
            raise SynthError(f"{exe} not found; run: apt-get install {pkg}")
    languages = {line.split()[1] for line in _run(["espeak-ng", "--voices=en"]).splitlines()[1:]}
    variants = {line.split()[4].removeprefix("!v/")
                for line in _run(["espeak-ng", "--voices=variant"]).splitlines()[1:]}
    flite = set(_run(["flite", "-lv"]).split(":", 1)[-1].split())
    speakers = {}
    for accent in ESPEAK_ACCENTS:
        for variant in ESPEAK_VARIANTS:
            voice = f"{accent}+{variant}"
            if accent in languages and variant in variants:
                speakers[speaker_id("espeak-ng", voice)] = ("espeak-ng", voice)
    for voice in FLITE_VOICES:
        if voice in flite:
            speakers[speaker_id("flite", voice)] = ("flite", voice)
    missing = [s for s in TEST_SPEAKERS + DEV_SPEAKERS if s not in speakers]
    if missing:
        raise SynthError(f"held-out voices not installed: {' '.join(missing)}")
    wanted = len(ESPEAK_ACCENTS) * len(ESPEAK_VARIANTS) + len(FLITE_VOICES)
    if len(speakers) < wanted:
        log.warning("%d of %d train voices are not installed here", wanted - len(speakers), wanted)
    return dict(sorted(speakers.items()))


def _make_utt(split: str, spk: str, index: int, text: str, voices: dict, seed: int) -> Utt:
    """Utterance <spk>-<index> with jitter drawn from (seed, utt id) only."""
    engine, voice = voices[spk]
    utt_id = f"{spk}-{index:06d}"
    rng = random.Random(f"{seed}/{utt_id}")
    if engine == "espeak-ng":
        return Utt(split, utt_id, spk, engine, voice, text,
                   speed=rng.randint(140, 190), pitch=rng.randint(35, 65))
    return Utt(split, utt_id, spk, engine, voice, text, stretch=round(rng.uniform(0.9, 1.15), 3))


def make_plan(sentences: list[str], voices: dict[str, tuple[str, str]], hours: float,
              eval_utts_per_spk: int, seed: int) -> list[Utt]:
    """All utterances of all splits, deterministic from the arguments.

    Dev/test utterance j of held-out speaker s reads pool[j * n_spk + s]; train utterance i
    goes round-robin to speaker i % n and reads the i-th train sentence (cycling), until the
    estimated duration reaches --hours. Growing --hours or --eval-utts-per-spk only appends.
    """
    order = sentences[:]
    random.Random(seed).shuffle(order)
    pool_size = min(EVAL_POOL, len(order) // 10)
    pools = {"dev": order[:pool_size], "test": order[pool_size:2 * pool_size],
             "train": order[2 * pool_size:]}
    plan = []
    for split, spks in (("dev", DEV_SPEAKERS), ("test", TEST_SPEAKERS)):
        if eval_utts_per_spk * len(spks) > pool_size:
            raise SynthError(f"--eval-utts-per-spk too large: {split} pool holds {pool_size} "
                             f"sentences for {len(spks)} speakers")
        for j in range(eval_utts_per_spk):
            for s, spk in enumerate(spks):
                plan.append(_make_utt(split, spk, j, pools[split][j * len(spks) + s], voices, seed))
    train_spks = [s for s in voices if s not in DEV_SPEAKERS + TEST_SPEAKERS]
    if not train_spks:
        raise SynthError("no train voices installed besides the held-out ones")
    total, i = 0.0, 0
    while total < hours * 3600:
        spk = train_spks[i % len(train_spks)]
        utt = _make_utt("train", spk, i // len(train_spks), pools["train"][i % len(pools["train"])],
                        voices, seed)
        plan.append(utt)
        total += utt.est_seconds()
        i += 1
    return plan


def wav_path(out: Path, utt: Utt) -> Path:
    return out / "wav" / utt.spk / f"{utt.utt_id}.wav"


def render(job: tuple[Utt, Path]) -> tuple[str, bool]:
    """Synthesise one utterance to a 16 kHz int16 wav, atomically; (utt id, success)."""
    utt, final = job
    spoken = utt.text.lower()  # all-caps words may be read as letter names
    fd, raw = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        if utt.engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", utt.voice, "-s", str(utt.speed), "-p", str(utt.pitch),
                   "-w", raw, spoken]
        else:
            cmd = ["flite", "-voice", utt.voice, "--setf", f"duration_stretch={utt.stretch}",
                   "-t", spoken, "-o", raw]
        proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if proc.returncode != 0 or os.path.getsize(raw) == 0:
            return utt.utt_id, False
        audio, rate = sf.read(raw, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, subprocess.TimeoutExpired):  # sf.read raises LibsndfileError(RuntimeError)
        return utt.utt_id, False
    finally:
        os.unlink(raw)
    audio = audio.mean(axis=1)
    if not np.any(audio):
        return utt.utt_id, False
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    peak = float(np.abs(audio).max())
    if peak >= 1.0:  # resampling can overshoot; keep 10% headroom instead of clipping
        audio *= 0.9 / peak
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.part")
    sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, final)
    return utt.utt_id, True


def _write_atomic(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="ascii")
    os.replace(tmp, path)


def write_kaldi_dir(out: Path, split: str, utts: list[Utt]) -> dict:
    """Write the split's Kaldi files (C-sorted) and return its counts."""
    d = out / split
    d.mkdir(parents=True, exist_ok=True)
    utts = sorted(utts, key=lambda u: u.utt_id)
    durs = {u.utt_id: sf.info(str(wav_path(out, u))).duration for u in utts}
    by_spk: dict[str, list[str]] = {}
    for u in utts:
        by_spk.setdefault(u.spk, []).append(u.utt_id)
    # Kaldi needs utt order and speaker order to agree; speaker id + '-' prefix guarantees it.
    assert [u.spk for u in utts] == sorted(u.spk for u in utts)
    _write_atomic(d / "wav.scp", [f"{u.utt_id} {wav_path(out, u)}" for u in utts])
    _write_atomic(d / "text", [f"{u.utt_id} {u.text}" for u in utts])
    _write_atomic(d / "utt2spk", [f"{u.utt_id} {u.spk}" for u in utts])
    _write_atomic(d / "spk2utt", [f"{s} {' '.join(ids)}" for s, ids in sorted(by_spk.items())])
    _write_atomic(d / "utt2dur", [f"{u.utt_id} {durs[u.utt_id]:.3f}" for u in utts])
    return {"utterances": len(utts), "speakers": len(by_spk), "hours": sum(durs.values()) / 3600}


def _check_plan_id(out: Path, sentences: list[str], voices: dict, seed: int) -> None:
    """Refuse to resume into an OUT made from another seed, text or voice set (wavs would mismatch)."""
    digest = hashlib.sha256(repr((seed, sentences, sorted(voices.items()))).encode()).hexdigest()
    marker = out / "wav" / ".plan_id"
    if marker.exists() and marker.read_text().strip() != digest:
        raise SynthError(f"{out} holds audio from another seed or text/voice set; use a new --out")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest + "\n")


def prepare(out: Path, hours: float, eval_utts_per_spk: int, seed: int, nj: int) -> dict:
    """Synthesise (or resume) the corpus under out and write the Kaldi dirs.

    Returns {split: {"utterances", "speakers", "hours", "dropped"}} for train, dev and test.
    """
    if hours <= 0 or eval_utts_per_spk < 1 or nj < 1:
        raise SynthError("--hours must be > 0, --eval-utts-per-spk and --nj must be >= 1")
    out = Path(out).resolve()
    if any(c.isspace() for c in str(out)):
        raise SynthError(f"--out path contains whitespace, which wav.scp cannot hold: {out}")
    voices = available_speakers()
    sentences = load_sentences()
    plan = make_plan(sentences, voices, hours, eval_utts_per_spk, seed)
    _check_plan_id(out, sentences, voices, seed)
    todo = [(u, wav_path(out, u)) for u in plan if not wav_path(out, u).exists()]
    log.info("%d utterances planned, %d to synthesise", len(plan), len(todo))
    failed: set[str] = set()
    if todo:
        # Workers ignore Ctrl-C so that only the parent reports the interruption.
        with Pool(nj, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)) as pool:
            results = pool.imap_unordered(render, todo, chunksize=4)
            for utt_id, ok in tqdm(results, total=len(todo), unit="utt", mininterval=2):
                if not ok:
                    failed.add(utt_id)
    stats = {}
    for split in SPLITS:
        planned = [u for u in plan if u.split == split]
        kept = [u for u in planned if u.utt_id not in failed]
        stats[split] = write_kaldi_dir(out, split, kept) | {"dropped": len(planned) - len(kept)}
    return stats


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line and exit code 1, like every other error here."""

    def error(self, message: str) -> None:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m data_prep.synth",
        description="Synthesise an English ASR corpus offline (espeak-ng + flite voices reading "
                    "fortunes, WordNet examples and the KJV Bible) into Kaldi data dirs "
                    "OUT/train, OUT/dev, OUT/test with audio under OUT/wav. Rerunning the same "
                    "command resumes an interrupted run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--hours", type=float, default=2.0,
                        help="target (estimated) hours of train audio; dev/test do not depend on it")
    parser.add_argument("--eval-utts-per-spk", type=int, default=40,
                        help=f"utterances per held-out speaker in dev ({len(DEV_SPEAKERS)} speakers) "
                             f"and test ({len(TEST_SPEAKERS)} speakers)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sentence order and voice jitter")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        stats = prepare(args.out, args.hours, args.eval_utts_per_spk, args.seed, args.nj)
    except (SynthError, NoTextError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    for split, s in stats.items():
        print(f"{split}: {s['utterances']} utterances, {s['speakers']} speakers, "
              f"{s['hours']:.3f} h, {s['dropped']} dropped (synthesis failed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
