"""Default offline corpus: espeak-ng, flite and festival voices reading Debian text, as Kaldi dirs.

Each (engine, voice) pair is one speaker. Dev and test speakers are fixed below and never
appear in train; dev, test, train and untranscribed-train sentences come from disjoint pools of
the shuffled sentence list. Everything is determined by --seed (and the installed text/voices),
so a rerun with the same arguments resumes an interrupted run and rewrites byte-identical files.

Layout: OUT/{train,dev,test}/{wav.scp,text,utt2spk,spk2utt,utt2dur}, OUT/train_unlab (the same
without text), OUT/test_long (segments + reco2text over long recordings OUT/wav/long/<reco>.wav)
and OUT/wav/<spk>/<utt>.wav (16 kHz mono 16-bit PCM).
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
import threading
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from asr_kd.data.audio import audio_duration
from asr_kd.data.kaldi_dir import Utterance, write_data_dir, write_table
from data_prep import OneLineErrorParser
from data_prep.text_sources import NoTextError, load_sentences

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
ESPEAK_VARIANTS = tuple(f"m{i}" for i in range(1, 9)) + tuple(f"f{i}" for i in range(1, 6))
FLITE_VOICES = ("kal16", "awb", "rms", "slt")  # "kal" is 8 kHz, so only kal16
# Speaker id suffix -> festival voice (packages festvox-kallpc16k, -kdlpc16k, -us-slt-hts).
FESTIVAL_VOICES = {"kal": "kal_diphone", "ked": "ked_diphone", "slt_hts": "cmu_us_slt_arctic_hts"}
# Held-out speakers: fixed, independent of --hours, disjoint from each other and from train.
TEST_SPEAKERS = ("espeak_en_gb_scotland_m2", "espeak_en_us_f4", "espeak_en_029_m5",
                 "espeak_en_gb_x_rp_f2", "flite_rms")
DEV_SPEAKERS = ("espeak_en_us_nyc_m6", "espeak_en_gb_f3", "espeak_en_gb_x_gbclan_m4", "flite_slt")
# Sentences reserved for each of dev and test (the first ones of the shuffled list), so that
# the train pool does not depend on --eval-utts-per-spk; capped at a tenth of the sentences.
EVAL_POOL = 2000
SPLITS = ("train", "dev", "test", "train_unlab")  # plain Kaldi dirs; test_long is assembled apart
LONG_MINUTES = (5.0, 30.0)  # default --long-minutes
LONG_PAUSE = (0.3, 1.5)     # seconds of silence after each utterance of a long recording
FESTIVAL_TIMEOUT = 120      # seconds before a hung festival process is killed


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
    stretch: float = 1.0  # flite duration_stretch, festival duration factor

    def est_seconds(self) -> float:
        """Duration estimate from the word count (least-squares fits on rendered utterances
        here), used only to fill --hours and long recordings before anything is rendered."""
        words = len(self.text.split())
        if self.engine == "espeak-ng":
            return 0.65 + 0.7 * words * 60.0 / self.speed
        if self.engine == "festival":
            return 0.95 + 0.25 * words * self.stretch
        return 0.8 + 0.27 * words * self.stretch


@dataclass(frozen=True)
class Recording:
    """One long-form recording: its utterances in order, each followed by a pause (seconds)."""
    reco: str
    spk: str
    utts: tuple[Utt, ...]
    pauses: tuple[float, ...]


def speaker_id(engine: str, voice: str) -> str:
    """Kaldi speaker id: 'espeak' or 'flite' plus the voice, '-' and '+' mapped to '_'."""
    name = "espeak" if engine == "espeak-ng" else engine
    return f"{name}_{voice}".replace("-", "_").replace("+", "_")


def _run(cmd: list[str], stdin: str = "") -> str:
    """Stdout of a short listing command."""
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False).stdout


def available_speakers() -> dict[str, tuple[str, str]]:
    """Map speaker id -> (engine, voice) for the wanted voices that are installed here."""
    for exe, pkg in (("espeak-ng", "espeak-ng"), ("flite", "flite")):
        if shutil.which(exe) is None:
            raise SynthError(f"{exe} not found; run: apt-get install {pkg}")
    languages = {line.split()[1] for line in _run(["espeak-ng", "--voices=en"]).splitlines()[1:]}
    variants = {line.split()[4].removeprefix("!v/")
                for line in _run(["espeak-ng", "--voices=variant"]).splitlines()[1:]}
    flite = set(_run(["flite", "-lv"]).split(":", 1)[-1].split())
    festival = set()  # festival only adds train voices, so it is optional
    if shutil.which("festival"):
        festival = set(_run(["festival", "--pipe"], "(print (voice.list))").strip("()\n").split())
    speakers = {}
    for accent in ESPEAK_ACCENTS:
        for variant in ESPEAK_VARIANTS:
            voice = f"{accent}+{variant}"
            if accent in languages and variant in variants:
                speakers[speaker_id("espeak-ng", voice)] = ("espeak-ng", voice)
    for voice in FLITE_VOICES:
        if voice in flite:
            speakers[speaker_id("flite", voice)] = ("flite", voice)
    for name, voice in FESTIVAL_VOICES.items():
        if voice in festival:
            speakers[f"festival_{name}"] = ("festival", voice)
    missing = [s for s in TEST_SPEAKERS + DEV_SPEAKERS if s not in speakers]
    if missing:
        raise SynthError(f"held-out voices not installed: {' '.join(missing)}")
    wanted = len(ESPEAK_ACCENTS) * len(ESPEAK_VARIANTS) + len(FLITE_VOICES) + len(FESTIVAL_VOICES)
    if len(speakers) < wanted:
        log.warning("%d of %d train voices are not installed here", wanted - len(speakers), wanted)
    return dict(sorted(speakers.items()))


def _make_utt(split: str, utt_id: str, spk: str, text: str, voices: dict, seed: int) -> Utt:
    """Utterance utt_id with jitter drawn from (seed, utt id) only."""
    engine, voice = voices[spk]
    rng = random.Random(f"{seed}/{utt_id}")
    if engine == "espeak-ng":
        return Utt(split, utt_id, spk, engine, voice, text,
                   speed=rng.randint(140, 190), pitch=rng.randint(35, 65))
    return Utt(split, utt_id, spk, engine, voice, text, stretch=round(rng.uniform(0.9, 1.15), 3))


def _fill(split: str, tag: str, spks: list[str], pool: list[str], seconds: float, voices: dict,
          seed: int) -> list[Utt]:
    """Utterances <spk>-<tag><n> round-robin over spks, reading pool in order (cycling), until
    the estimated duration reaches seconds."""
    utts, total = [], 0.0
    while total < seconds:
        i = len(utts)
        spk = spks[i % len(spks)]
        utts.append(_make_utt(split, f"{spk}-{tag}{i // len(spks):06d}", spk, pool[i % len(pool)],
                              voices, seed))
        total += utts[-1].est_seconds()
    return utts


def _plan_long(pool: list[str], n: int, minutes: tuple[float, float], voices: dict,
               seed: int) -> list[Recording]:
    """n recordings, test speakers in turn, each drawing test sentences and pauses from its own
    seeded generator until the estimated length reaches a target drawn in minutes."""
    recordings = []
    for r in range(n):
        spk = TEST_SPEAKERS[r % len(TEST_SPEAKERS)]
        reco = f"{spk}-long{r:02d}"
        rng = random.Random(f"{seed}/{reco}")
        target = 60 * rng.uniform(*minutes)
        utts, pauses, total = [], [], 0.0
        while total < target:
            utts.append(_make_utt("test_long", f"{reco}-{len(utts):04d}", spk, rng.choice(pool),
                                  voices, seed))
            pauses.append(round(rng.uniform(*LONG_PAUSE), 3))
            total += utts[-1].est_seconds() + pauses[-1]
        recordings.append(Recording(reco, spk, tuple(utts), tuple(pauses)))
    return recordings


def make_plan(sentences: list[str], voices: dict[str, tuple[str, str]], hours: float,
              eval_utts_per_spk: int, seed: int, unlab_hours: float = 0.0,
              long_recordings: int = 0, long_minutes: tuple[float, float] = LONG_MINUTES,
              ) -> tuple[list[Utt], list[Recording]]:
    """All utterances to render (every split) and the long recordings, deterministic from the
    arguments.

    Dev/test utterance j of held-out speaker s reads pool[j * n_spk + s]; long recordings draw
    from the test pool. Untranscribed train reads the shuffled list from its end backwards and
    train reads the rest from the front (cycling), both round-robin over the train speakers
    until the estimated duration reaches their hours. Growing --hours, --eval-utts-per-spk or
    --long-recordings only appends; growing --unlab-hours never changes train unless train
    cycles through its whole pool.
    """
    order = sentences[:]
    random.Random(seed).shuffle(order)
    pool_size = min(EVAL_POOL, len(order) // 10)
    dev, test, rest = order[:pool_size], order[pool_size:2 * pool_size], order[2 * pool_size:]
    plan = []
    for split, spks, pool in (("dev", DEV_SPEAKERS, dev), ("test", TEST_SPEAKERS, test)):
        if eval_utts_per_spk * len(spks) > pool_size:
            raise SynthError(f"--eval-utts-per-spk too large: {split} pool holds {pool_size} "
                             f"sentences for {len(spks)} speakers")
        for j in range(eval_utts_per_spk):
            for s, spk in enumerate(spks):
                plan.append(_make_utt(split, f"{spk}-{j:06d}", spk, pool[j * len(spks) + s],
                                      voices, seed))
    train_spks = [s for s in voices if s not in DEV_SPEAKERS + TEST_SPEAKERS]
    if not train_spks:
        raise SynthError("no train voices installed besides the held-out ones")
    unlab = _fill("train_unlab", "unlab", train_spks, rest[::-1], unlab_hours * 3600, voices, seed)
    if len(unlab) >= len(rest):
        raise SynthError(f"--unlab-hours too large: {len(rest)} sentences left for train and "
                         "untranscribed train together")
    train = _fill("train", "", train_spks, rest[:len(rest) - len(unlab)], hours * 3600, voices, seed)
    recordings = _plan_long(test, long_recordings, long_minutes, voices, seed)
    plan += train + unlab + [u for rec in recordings for u in rec.utts]
    return plan, recordings


def wav_path(out: Path, utt: Utt) -> Path:
    return out / "wav" / utt.spk / f"{utt.utt_id}.wav"


def long_path(out: Path, rec: Recording) -> Path:
    return out / "wav" / "long" / f"{rec.reco}.wav"


_festival: subprocess.Popen | None = None  # this worker's festival process, kept across calls


def _festival_eval(expr: str) -> str:
    """Evaluate Scheme in this worker's persistent festival (started on first use, restarted
    after a failure) and return its output; voices load once instead of once per utterance."""
    global _festival
    if _festival is None or _festival.poll() is not None:
        _festival = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc = _festival
    watchdog = threading.Timer(FESTIVAL_TIMEOUT, proc.kill)
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


def _init_worker() -> None:
    """Pool worker start: ignore Ctrl-C (only the parent reports it) and own no festival yet."""
    global _festival
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _festival = None  # one inherited from the parent belongs to the parent


def _synthesise(utt: Utt, spoken: str, raw: str) -> bool:
    """Run the utterance's engine, writing its native wav to raw; False on failure."""
    if utt.engine == "festival":
        # The voice sets its own Duration_Stretch (HTS ignores it and takes a speed rate -r);
        # spoken holds only a-z, ' and spaces, so it is a safe Scheme string.
        expr = (f"(voice_{utt.voice})(Parameter.set 'Duration_Stretch "
                f"(* {utt.stretch} (Parameter.get 'Duration_Stretch)))")
        if utt.voice.endswith("_hts"):
            expr += f'(set! hts_engine_params (cons (list "-r" {1 / utt.stretch:.4f}) hts_engine_params))'
        expr += f'(utt.save.wave (SynthText "{spoken}") "{raw}" \'riff)'
        return "SIOD ERROR" not in _festival_eval(expr)
    if utt.engine == "espeak-ng":
        cmd = ["espeak-ng", "-v", utt.voice, "-s", str(utt.speed), "-p", str(utt.pitch),
               "-w", raw, spoken]
    else:
        cmd = ["flite", "-voice", utt.voice, "--setf", f"duration_stretch={utt.stretch}",
               "-t", spoken, "-o", raw]
    return subprocess.run(cmd, capture_output=True, timeout=120, check=False).returncode == 0


def render(job: tuple[Utt, Path]) -> tuple[str, bool]:
    """Synthesise one utterance to a 16 kHz int16 wav, atomically; (utt id, success)."""
    utt, final = job
    spoken = utt.text.lower()  # all-caps words may be read as letter names
    fd, raw = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        if not _synthesise(utt, spoken, raw) or os.path.getsize(raw) == 0:
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


def write_split(out: Path, split: str, utts: list[Utt]) -> dict:
    """Write the split's Kaldi dir with the shared writer (no text for train_unlab); its counts."""
    rows = [Utterance(u.utt_id, u.spk, str(wav_path(out, u)),
                      text=None if split == "train_unlab" else u.text) for u in utts]
    durs = {r.utt: audio_duration(r.path) for r in rows}
    write_data_dir(out / split, rows, durs)
    return {"utterances": len(rows), "speakers": len({u.spk for u in utts}),
            "hours": sum(durs.values()) / 3600}


def assemble_long(out: Path, recordings: list[Recording], failed: set[str]) -> dict:
    """Concatenate each recording's rendered utterances and pauses into OUT/wav/long/<reco>.wav
    (rewritten atomically only when its content changes) and write OUT/test_long; its counts."""
    rows, durs, reco2text, samples = [], {}, {}, 0
    for rec in recordings:
        kept = [(u, p) for u, p in zip(rec.utts, rec.pauses) if u.utt_id not in failed]
        if not kept:
            continue
        pieces, pos, path = [], 0, long_path(out, rec)
        for u, pause in kept:
            audio, _ = sf.read(wav_path(out, u), dtype="int16")
            rows.append(Utterance(u.utt_id, u.spk, str(path), pos / SAMPLE_RATE,
                                  (pos + len(audio)) / SAMPLE_RATE, u.text))
            durs[u.utt_id] = len(audio) / SAMPLE_RATE
            gap = np.zeros(round(pause * SAMPLE_RATE), np.int16)
            pieces += [audio, gap]
            pos += len(audio) + len(gap)
        audio = np.concatenate(pieces)
        if not path.exists() or not np.array_equal(sf.read(path, dtype="int16")[0], audio):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.part")
            sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            os.replace(tmp, path)
        reco2text[rec.reco] = " ".join(u.text for u, _ in kept)
        samples += pos
    write_data_dir(out / "test_long", rows, durs)
    write_table(out / "test_long" / "reco2text", reco2text)
    return {"utterances": len(rows), "speakers": len({r.spk for r in rows}),
            "hours": samples / SAMPLE_RATE / 3600, "recordings": len(reco2text)}


def _check_plan_id(out: Path, sentences: list[str], voices: dict, seed: int) -> None:
    """Refuse to resume into an OUT made from another seed, text or voice set (wavs would mismatch)."""
    digest = hashlib.sha256(repr((seed, sentences, sorted(voices.items()))).encode()).hexdigest()
    marker = out / "wav" / ".plan_id"
    if marker.exists() and marker.read_text().strip() != digest:
        raise SynthError(f"{out} holds audio from another seed or text/voice set; use a new --out")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest + "\n")


def prepare(out: Path, hours: float, eval_utts_per_spk: int, seed: int, nj: int,
            unlab_hours: float = 0.0, long_recordings: int = 0,
            long_minutes: tuple[float, float] = LONG_MINUTES) -> dict:
    """Synthesise (or resume) the corpus under out and write the Kaldi dirs.

    Returns {split: {"utterances", "speakers", "hours", "dropped"}} for train, dev, test and,
    when asked for, train_unlab and test_long (which also counts "recordings").
    """
    if hours <= 0 or eval_utts_per_spk < 1 or nj < 1:
        raise SynthError("--hours must be > 0, --eval-utts-per-spk and --nj must be >= 1")
    if unlab_hours < 0 or long_recordings < 0 or not 0 < long_minutes[0] <= long_minutes[1]:
        raise SynthError("--unlab-hours and --long-recordings must be >= 0, "
                         "--long-minutes MIN,MAX needs 0 < MIN <= MAX")
    out = Path(out).resolve()
    if any(c.isspace() for c in str(out)):
        raise SynthError(f"--out path contains whitespace, which wav.scp cannot hold: {out}")
    voices = available_speakers()
    sentences = load_sentences()
    plan, recordings = make_plan(sentences, voices, hours, eval_utts_per_spk, seed, unlab_hours,
                                 long_recordings, long_minutes)
    _check_plan_id(out, sentences, voices, seed)
    todo = [(u, wav_path(out, u)) for u in plan if not wav_path(out, u).exists()]
    log.info("%d utterances planned, %d to synthesise", len(plan), len(todo))
    failed: set[str] = set()
    if todo:
        with Pool(nj, initializer=_init_worker) as pool:
            results = pool.imap_unordered(render, todo, chunksize=4)
            for utt_id, ok in tqdm(results, total=len(todo), unit="utt", mininterval=2):
                if not ok:
                    failed.add(utt_id)
    stats = {}
    for split in SPLITS + ("test_long",):
        planned = [u for u in plan if u.split == split]
        kept = [u for u in planned if u.utt_id not in failed]
        if planned:
            counts = (assemble_long(out, recordings, failed) if split == "test_long"
                      else write_split(out, split, kept))
            stats[split] = counts | {"dropped": len(planned) - len(kept)}
    return stats


def _minutes(value: str) -> tuple[float, float]:
    """Parse --long-minutes 'MIN,MAX' (fractions allowed)."""
    try:
        low, high = map(float, value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX minutes, got {value!r}") from None
    return low, high


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m data_prep.synth",
        description="Synthesise an English ASR corpus offline (espeak-ng, flite and festival "
                    "voices reading fortunes, WordNet examples and two Bibles) into Kaldi data "
                    "dirs OUT/train, OUT/dev, OUT/test (optionally OUT/train_unlab and "
                    "OUT/test_long) with audio under OUT/wav. Rerunning the same command resumes "
                    "an interrupted run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--hours", type=float, default=2.0,
                        help="target (estimated) hours of train audio; dev/test do not depend on it")
    parser.add_argument("--eval-utts-per-spk", type=int, default=40,
                        help=f"utterances per held-out speaker in dev ({len(DEV_SPEAKERS)} speakers) "
                             f"and test ({len(TEST_SPEAKERS)} speakers)")
    parser.add_argument("--unlab-hours", type=float, default=0.0,
                        help="(estimated) hours of untranscribed train-speaker audio in OUT/train_unlab, "
                             "from sentences outside every other split; 0 = none")
    parser.add_argument("--long-recordings", type=int, default=0,
                        help="long recordings of test speakers in OUT/test_long (segments, "
                             "reco2text); 0 = none")
    parser.add_argument("--long-minutes", type=_minutes, metavar="MIN,MAX",
                        default="{:g},{:g}".format(*LONG_MINUTES),
                        help="each long recording's (estimated) length is drawn in [MIN, MAX] minutes")
    parser.add_argument("--seed", type=int, default=0, help="seed for sentence order and voice jitter")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        stats = prepare(args.out, args.hours, args.eval_utts_per_spk, args.seed, args.nj,
                        args.unlab_hours, args.long_recordings, args.long_minutes)
    except (SynthError, NoTextError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    for split, s in stats.items():
        recos = f" in {s['recordings']} recordings" if "recordings" in s else ""
        print(f"{split}: {s['utterances']} utterances{recos}, {s['speakers']} speakers, "
              f"{s['hours']:.3f} h, {s['dropped']} dropped (synthesis failed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
