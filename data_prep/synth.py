"""Default offline corpus: espeak-ng, flite, festival, RHVoice and Kokoro voices reading Debian
text, as Kaldi dirs.

Each voice of each engine (data_prep/engines) is one speaker. Speakers split by the recorded
person behind them, so that one person never sits on two sides (train / dev / test):
  dev                 DEV_SPEAKERS (3 espeak-ng, flite rms)
  test, test_long     TEST_SPEAKERS (4 espeak-ng, flite slt, festival slt HTS)
  test_unseen_engine  every voice of UNSEEN_ENGINE (RHVoice bdl, clb, slt: CMU ARCTIC persons
                      that are not in train) reading UNSEEN_TEXT, a text source no other split reads
  train, train_unlab  the other voices, the hours shared by voice (optionally with no engine over
                      --max-engine-share, --unlab-max-engine-share of them); Kokoro only in train,
                      within its own --kokoro-hours
Dev, test, Kokoro, train and untranscribed-train sentences come from disjoint pools of the
shuffled sentence list. Everything is determined by --seed (and the installed text/voices), so
a rerun with the same arguments resumes an interrupted run and rewrites byte-identical files.
A missing engine or voice is reported in one line and the corpus is written without it.

Layout: OUT/{train,dev,test,test_unseen_engine}/{wav.scp,text,utt2spk,spk2utt,utt2dur},
OUT/train_unlab (the same without text), OUT/test_long (segments + reco2text over long
recordings OUT/wav/long/<reco>.wav), OUT/wav/<spk>/<utt>.wav (16 kHz mono 16-bit PCM),
OUT/local/lm/corpus.txt (LM text: one sentence per line, every sentence of the training text
sources that no evaluation or untranscribed utterance reads, as Kaldi keeps LM text in
data/local/lm) and OUT/.cache (the Kokoro model, assembled on first use).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from asr_kd.data.audio import audio_duration
from asr_kd.data.kaldi_dir import Utterance, write_data_dir, write_table
from asr_kd.fileio import write_text
from data_prep import OneLineErrorParser, engines
from data_prep.engines import DEFAULT_ENGINES, ENGINES, Speaker, Utt, est_seconds, find_speakers
from data_prep.text_sources import SOURCES, NoTextError, load_sentences, source_sentences

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Held-out speakers: fixed, independent of --hours, disjoint from each other and from train.
# CMU ARCTIC slt is a test person (flite, festival HTS, RHVoice), rms a dev person.
DEV_SPEAKERS = ("espeak_en_us_nyc_m6", "espeak_en_gb_f3", "espeak_en_gb_x_gbclan_m4", "flite_rms")
TEST_SPEAKERS = ("espeak_en_gb_scotland_m2", "espeak_en_us_f4", "espeak_en_029_m5",
                 "espeak_en_gb_x_rp_f2", "flite_slt", "festival_slt_hts")
UNSEEN_ENGINE = "rhvoice"  # contributes nothing to train/dev/test
UNSEEN_TEXT = "fortunes"   # text source read only by test_unseen_engine
SIDES = {"train": "train", "dev": "dev", "test": "test", "test_unseen_engine": "test"}
KOKORO_SHARE = 0.1         # default --kokoro-hours as a fraction of --hours
MAX_ENGINE_SHARE = 1.0     # default --max-engine-share (by voice): a 0.7 cap cost the full recipe (RESULTS.md)
UNLAB_MAX_ENGINE_SHARE = 1.0  # default --unlab-max-engine-share, the same for the untranscribed audio
# Sentences reserved for each of dev, test and Kokoro (the first ones of the shuffled list), so
# that the train pool does not depend on --eval-utts-per-spk; capped at a tenth of the sentences.
EVAL_POOL = 2000
SPLITS = ("train", "dev", "test", "test_unseen_engine", "train_unlab")  # test_long is assembled apart
LONG_MINUTES = (5.0, 30.0)  # default --long-minutes
LONG_PAUSE = (0.3, 1.5)     # seconds of silence after each utterance of a long recording
LM_CORPUS = Path("local/lm/corpus.txt")  # under OUT: the word LM's text (`lm_sentences`)


class SynthError(RuntimeError):
    """A user-facing failure (no voices for a split, bad arguments, foreign output dir)."""


@dataclass(frozen=True)
class Recording:
    """One long-form recording: its utterances in order, each followed by a pause (seconds)."""
    reco: str
    spk: str
    utts: tuple[Utt, ...]
    pauses: tuple[float, ...]


def split_speakers(voices: dict[str, Speaker]) -> dict[str, list[str]]:
    """Speakers of each split among voices: the fixed dev/test lists, every voice of the unseen
    engine, the rest in train. SynthError when dev or test has none, or when one recorded person
    would sit on two sides (a person of a held-out voice must not train through another engine)."""
    unseen = [s for s, v in voices.items() if v.engine == UNSEEN_ENGINE]
    splits = {"dev": [s for s in DEV_SPEAKERS if s in voices],
              "test": [s for s in TEST_SPEAKERS if s in voices], "test_unseen_engine": unseen}
    held_out = {s for spks in splits.values() for s in spks}
    splits["train"] = [s for s in voices if s not in held_out]
    for split in ("dev", "test", "train"):
        if not splits[split]:
            raise SynthError(f"no {split} voices installed (see the lines above for what to install)")
    side_of: dict[str, str] = {}
    for split, spks in splits.items():
        for spk in spks:
            person = voices[spk].person
            if side_of.setdefault(person, SIDES[split]) != SIDES[split]:
                raise SynthError(f"recorded person {person} would be in both {side_of[person]} and "
                                 f"{SIDES[split]} ({spk})")
    return splits


def _make_utt(split: str, utt_id: str, spk: str, text: str, voices: dict[str, Speaker],
              seed: int) -> Utt:
    """Utterance utt_id with jitter drawn from (seed, utt id) only."""
    voice = voices[spk]
    rng = random.Random(f"{seed}/{utt_id}")
    return Utt(split, utt_id, spk, voice.engine, voice.voice, text, **ENGINES[voice.engine].jitter(rng))


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
        total += est_seconds(utts[-1])
    return utts


def engine_groups(spks: list[str], voices: dict, max_share: float) -> list[tuple[list[str], float]]:
    """Speakers grouped for sharing the train hours, with each group's share (summing to 1).

    Hours go by voice, but an engine whose by-voice share would exceed max_share is capped at it and
    forms a group of its own; the other engines share the rest by voice in one last group (by voice
    alone, espeak-ng's ~100 variants take ~95% and each flite/festival voice a few minutes). Where
    the cap cannot hold (one engine, or the rest would exceed it too) the last group takes the rest;
    with no engine over it, one group.
    """
    counts = Counter(voices[spk].engine for spk in spks)
    capped: list[str] = []
    while True:
        free = {e: n for e, n in counts.items() if e not in capped}
        left = 1 - max_share * len(capped)
        over = [e for e, n in free.items() if left * n / sum(free.values()) > max_share]
        if not over or len(over) == len(free):
            break
        capped += over
    groups = [([s for s in spks if voices[s].engine == e], max_share) for e in capped]
    return groups + [([s for s in spks if voices[s].engine not in capped], 1 - max_share * len(capped))]


def _fill_unlab(spks: list[str], tail: list[str], seconds: float, voices: dict, seed: int,
                max_share: float) -> tuple[list[Utt], int]:
    """(untranscribed train utterances, sentences of tail spanned): each group g of G of
    `engine_groups` fills its share of seconds round-robin over its speakers, reading tail[g::G]
    in order, leaving at least tail[-1] to train. Utterance <spk>-unlab<k> reads tail[k], so an id
    keeps its sentence (and jitter) whatever the share or hours."""
    groups = engine_groups(spks, voices, max_share)
    unlab, spanned = [], 0
    for g, (group, share) in enumerate(groups):
        heard, total, k = [], 0.0, g
        while total < seconds * share:
            if k >= len(tail) - 1:
                raise SynthError(f"--unlab-hours too large: {len(tail)} sentences left for train and "
                                 "untranscribed train together")
            spk = group[len(heard) % len(group)]
            heard.append(_make_utt("train_unlab", f"{spk}-unlab{k:06d}", spk, tail[k], voices, seed))
            total += est_seconds(heard[-1])
            k += len(groups)
        unlab += heard
        spanned = max(spanned, k - len(groups) + 1 if heard else 0)
    return unlab, spanned


def _fill_train(spks: list[str], pool: list[str], hours: float, unlab_hours: float, voices: dict,
                seed: int, max_share: float, unlab_max_share: float) -> tuple[list[Utt], list[Utt]]:
    """(train, untranscribed train) utterances of spks. Untranscribed audio reads pool from its end
    backwards (`_fill_unlab`, engines shared by unlab_max_share); train reads the rest from the
    front (cycling), each group g of G of `engine_groups` (by max_share) filling its share of the
    hours round-robin over its speakers from rest[g::G]."""
    unlab, spanned = _fill_unlab(spks, pool[::-1], unlab_hours * 3600, voices, seed, unlab_max_share)
    rest = pool[:len(pool) - spanned]
    groups = engine_groups(spks, voices, max_share)
    train = []
    for g, (group, share) in enumerate(groups):
        train += _fill("train", "", group, rest[g::len(groups)], hours * share * 3600, voices, seed)
    return train, unlab


def _plan_long(pool: list[str], spks: list[str], n: int, minutes: tuple[float, float],
               voices: dict, seed: int) -> list[Recording]:
    """n recordings, test speakers in turn, each drawing test sentences and pauses from its own
    seeded generator until the estimated length reaches a target drawn in minutes."""
    recordings = []
    for r in range(n):
        spk = spks[r % len(spks)]
        reco = f"{spk}-long{r:02d}"
        rng = random.Random(f"{seed}/{reco}")
        target = 60 * rng.uniform(*minutes)
        utts, pauses, total = [], [], 0.0
        while total < target:
            utts.append(_make_utt("test_long", f"{reco}-{len(utts):04d}", spk, rng.choice(pool),
                                  voices, seed))
            pauses.append(round(rng.uniform(*LONG_PAUSE), 3))
            total += est_seconds(utts[-1]) + pauses[-1]
        recordings.append(Recording(reco, spk, tuple(utts), tuple(pauses)))
    return recordings


def _sentence_pools(sentences: list[str], seed: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """The plan's sentences for seed, shuffled and cut into its dev, test, Kokoro and train pools."""
    order = sentences[:]
    random.Random(seed).shuffle(order)
    size = min(EVAL_POOL, len(order) // 10)
    return order[:size], order[size:2 * size], order[2 * size:3 * size], order[3 * size:]


def unlab_texts(sentences: list[str], seed: int, utt_ids: list[str]) -> dict[str, str]:
    """The sentence each untranscribed utterance <spk>-unlab<k> of make_plan(sentences, seed=seed)
    reads (train_unlab has no text): to score pseudo-labels against what was spoken."""
    tail = _sentence_pools(sentences, seed)[3][::-1]  # as _fill_train hands it to _fill_unlab
    return {u: tail[int(u.rsplit("-unlab", 1)[1])] for u in utt_ids}


def make_plan(sentences: list[str], voices: dict[str, Speaker], hours: float,
              eval_utts_per_spk: int, seed: int, unlab_hours: float = 0.0,
              long_recordings: int = 0, long_minutes: tuple[float, float] = LONG_MINUTES,
              kokoro_hours: float = 0.0, unseen_sentences: list[str] = (),
              max_engine_share: float = MAX_ENGINE_SHARE,
              unlab_max_engine_share: float = UNLAB_MAX_ENGINE_SHARE) -> tuple[list[Utt], list[Recording]]:
    """All utterances to render (every split) and the long recordings, deterministic from the
    arguments.

    Dev/test/test_unseen_engine utterance j of held-out speaker s reads pool[j * n_spk + s];
    long recordings draw from the test pool, test_unseen_engine from unseen_sentences.
    Untranscribed train reads the shuffled list from its end backwards and train reads the rest
    from the front (cycling), both round-robin over the train speakers other than Kokoro until
    the estimated duration reaches their hours (train: hours - kokoro_hours), an engine over
    max_engine_share (untranscribed: unlab_max_engine_share) of them with its own share and part
    of the list (`_fill_train`); the Kokoro voices fill kokoro_hours of train from a pool of their
    own. Changing --hours, --kokoro-hours, --eval-utts-per-spk or --long-recordings only appends
    to (or cuts) the end of each list, so an utterance id always keeps its text and jitter; an
    untranscribed id names its sentence's place in the list; changing --unlab-hours or its share
    never changes train unless train cycles through its whole pool.
    """
    dev, test, kokoro_pool, rest = _sentence_pools(sentences, seed)
    unseen = list(unseen_sentences)
    random.Random(f"{seed}/unseen").shuffle(unseen)
    pools = {"dev": dev, "test": test, "test_unseen_engine": unseen}
    splits = split_speakers(voices)
    plan = []
    for split, pool in pools.items():
        spks = splits[split]
        if eval_utts_per_spk * len(spks) > len(pool):
            raise SynthError(f"--eval-utts-per-spk too large: {split} pool holds {len(pool)} "
                             f"sentences for {len(spks)} speakers")
        for j in range(eval_utts_per_spk):
            for s, spk in enumerate(spks):
                plan.append(_make_utt(split, f"{spk}-{j:06d}", spk, pool[j * len(spks) + s],
                                      voices, seed))
    kokoro_spks = [s for s in splits["train"] if voices[s].engine == "kokoro"]
    train_spks = [s for s in splits["train"] if s not in kokoro_spks]
    if not train_spks:
        raise SynthError("no train voices installed besides Kokoro and the held-out ones")
    kokoro = _fill("train", "", kokoro_spks, kokoro_pool, kokoro_hours * 3600 if kokoro_spks else 0,
                   voices, seed)
    train, unlab = _fill_train(train_spks, rest, hours - (kokoro_hours if kokoro_spks else 0),
                               unlab_hours, voices, seed, max_engine_share, unlab_max_engine_share)
    recordings = _plan_long(pools["test"], splits["test"], long_recordings, long_minutes, voices, seed)
    plan += train + kokoro + unlab + [u for rec in recordings for u in rec.utts]
    return plan, recordings


def lm_sentences(sentences: list[str], plan: list[Utt]) -> list[str]:
    """Text for the word LM: every sentence that no utterance outside train reads (dev, test,
    test_long and train_unlab sentences are left out, so the LM never saw what is decoded or
    pseudo-labelled); the train transcripts are in it, as in any Kaldi LM corpus."""
    held = {u.text for u in plan if u.split != "train"}
    return [s for s in sentences if s not in held]


def wav_path(out: Path, utt: Utt) -> Path:
    return out / "wav" / utt.spk / f"{utt.utt_id}.wav"


def long_path(out: Path, rec: Recording) -> Path:
    return out / "wav" / "long" / f"{rec.reco}.wav"


def _init_worker() -> None:
    """Pool worker start: ignore Ctrl-C (only the parent reports it), reset engine state."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engines.init_worker()


def render(job: tuple[Utt, Path]) -> tuple[str, bool]:
    """Synthesise one utterance to a 16 kHz int16 wav, atomically; (utt id, success)."""
    utt, final = job
    spoken = utt.text.lower()  # all-caps words may be read as letter names
    fd, raw = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        if not ENGINES[utt.engine].synthesise(utt, spoken, raw) or os.path.getsize(raw) == 0:
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


def load_text() -> tuple[list[str], list[str]]:
    """Sentences of every installed text source but UNSEEN_TEXT (train/dev/test), and those of
    UNSEEN_TEXT that no other source has (test_unseen_engine; empty when it is not installed)."""
    sentences = load_sentences(exclude=(UNSEEN_TEXT,))
    seen = set(sentences)
    return sentences, [s for s in source_sentences(UNSEEN_TEXT) or [] if s not in seen]


def _check_plan_id(out: Path, text: tuple[list[str], list[str]], voices: dict, seed: int,
                   max_engine_share: float) -> None:
    """Refuse to resume into an OUT made from another seed, text, voice set or engine share (an
    utterance id would read another sentence). Share 1 (by voice) leaves the key as it was before
    the share existed, so those corpora still resume."""
    key = (seed, *text, sorted(voices.items())) + ((max_engine_share,) if max_engine_share < 1 else ())
    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    marker = out / "wav" / ".plan_id"
    if marker.exists() and marker.read_text().strip() != digest:
        raise SynthError(f"{out} holds audio from another seed, text/voice set or --max-engine-share; "
                         "use a new --out")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest + "\n")


def prepare(out: Path, hours: float, eval_utts_per_spk: int, seed: int, nj: int,
            unlab_hours: float = 0.0, long_recordings: int = 0,
            long_minutes: tuple[float, float] = LONG_MINUTES, kokoro_hours: float | None = None,
            engine_names: tuple[str, ...] = DEFAULT_ENGINES,
            max_engine_share: float = MAX_ENGINE_SHARE,
            unlab_max_engine_share: float = UNLAB_MAX_ENGINE_SHARE) -> tuple[dict, list[str]]:
    """Synthesise (or resume) the corpus under out and write the Kaldi dirs.

    Returns ({split: {"utterances", "speakers", "hours", "dropped"}} for train, dev, test and,
    when there are any, test_unseen_engine, train_unlab and test_long (which also counts
    "recordings"), [one line per engine or text source left out, saying what to install]).
    kokoro_hours defaults to KOKORO_SHARE of hours.
    """
    kokoro_hours = KOKORO_SHARE * hours if kokoro_hours is None else kokoro_hours
    if hours <= 0 or eval_utts_per_spk < 1 or nj < 1 or not 0 <= kokoro_hours <= hours:
        raise SynthError("--hours must be > 0, --eval-utts-per-spk and --nj must be >= 1, "
                         "--kokoro-hours must lie in [0, --hours]")
    if not (0 < max_engine_share <= 1 and 0 < unlab_max_engine_share <= 1):
        raise SynthError("--max-engine-share and --unlab-max-engine-share must lie in (0, 1]")
    if unlab_hours < 0 or long_recordings < 0 or not 0 < long_minutes[0] <= long_minutes[1]:
        raise SynthError("--unlab-hours and --long-recordings must be >= 0, "
                         "--long-minutes MIN,MAX needs 0 < MIN <= MAX")
    out = Path(out).resolve()
    if any(c.isspace() for c in str(out)):
        raise SynthError(f"--out path contains whitespace, which wav.scp cannot hold: {out}")
    voices, missing = find_speakers(engine_names)
    text = load_text()
    if not text[1] and any(v.engine == UNSEEN_ENGINE for v in voices.values()):
        missing.append(f"test_unseen_engine: text source {UNSEEN_TEXT} not installed, left out; "
                       f"install: apt-get install {SOURCES[UNSEEN_TEXT][0]}")
        voices = {s: v for s, v in voices.items() if v.engine != UNSEEN_ENGINE}
    for line in missing:
        log.warning(line)
    plan, recordings = make_plan(text[0], voices, hours, eval_utts_per_spk, seed, unlab_hours,
                                 long_recordings, long_minutes, kokoro_hours, text[1], max_engine_share,
                                 unlab_max_engine_share)
    _check_plan_id(out, text, voices, seed, max_engine_share)
    train_seconds = Counter()
    for u in plan:
        if u.split == "train":
            train_seconds[u.engine] += est_seconds(u)
    log.info("train hours by engine (estimated): %s",
             ", ".join(f"{e} {sec / 3600:.2f}" for e, sec in train_seconds.items()))
    todo = [(u, wav_path(out, u)) for u in plan if not wav_path(out, u).exists()]
    log.info("%d utterances planned, %d to synthesise", len(plan), len(todo))
    failed: set[str] = set()
    if todo:
        engines.setup({u.engine for u, _ in todo}, out / ".cache")
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
    lm_text = lm_sentences(text[0], plan)
    write_text(out / LM_CORPUS, "".join(s + "\n" for s in lm_text))
    log.info("%s: %d sentences for the LM", out / LM_CORPUS, len(lm_text))
    return stats, missing


def _engines(value: str) -> tuple[str, ...]:
    """Parse --engines 'a,b,...' into known engine names."""
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown engine(s) {','.join(unknown)!r}; "
                                         f"choose from {','.join(ENGINES)}")
    return names


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
        description="Synthesise an English ASR corpus offline (espeak-ng, flite, festival, RHVoice "
                    "and Kokoro voices reading WordNet examples, two Bibles and, for the held-out "
                    "engine set only, fortunes) into Kaldi data dirs OUT/train, OUT/dev, OUT/test, "
                    "OUT/test_unseen_engine (optionally OUT/train_unlab and OUT/test_long) with "
                    "audio under OUT/wav, and the LM text OUT/local/lm/corpus.txt (the training "
                    "sources' sentences that no evaluation or untranscribed utterance reads). "
                    "A recorded person is on one side of the split only. "
                    "Rerunning the same command resumes an interrupted run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--hours", type=float, default=2.0,
                        help="target (estimated) hours of train audio; dev/test do not depend on it")
    parser.add_argument("--kokoro-hours", type=float,
                        help=f"part of --hours spoken by the slow Kokoro voices (about 2x real time "
                             f"per job); default {KOKORO_SHARE * 100:g}%% of --hours")
    parser.add_argument("--max-engine-share", type=float, default=MAX_ENGINE_SHARE,
                        help="most of the non-Kokoro train hours one engine may take, the rest going "
                             "to the other engines by voice; 1 = by voice only, where espeak-ng's "
                             "~100 voices take ~95%%")
    parser.add_argument("--unlab-max-engine-share", type=float, default=UNLAB_MAX_ENGINE_SHARE,
                        help="the same for the untranscribed hours (--unlab-hours); changing it on "
                             "an existing --out synthesises only the utterances it adds")
    parser.add_argument("--eval-utts-per-spk", type=int, default=40,
                        help=f"utterances per held-out speaker in dev ({len(DEV_SPEAKERS)} speakers), "
                             f"test ({len(TEST_SPEAKERS)} speakers) and test_unseen_engine (every "
                             f"{UNSEEN_ENGINE} voice)")
    parser.add_argument("--unlab-hours", type=float, default=0.0,
                        help="(estimated) hours of untranscribed train-speaker audio in OUT/train_unlab, "
                             "from sentences outside every other split; 0 = none")
    parser.add_argument("--long-recordings", type=int, default=0,
                        help="long recordings of test speakers in OUT/test_long (segments, "
                             "reco2text); 0 = none")
    parser.add_argument("--long-minutes", type=_minutes, metavar="MIN,MAX",
                        default="{:g},{:g}".format(*LONG_MINUTES),
                        help="each long recording's (estimated) length is drawn in [MIN, MAX] minutes")
    parser.add_argument("--engines", type=_engines, default=",".join(DEFAULT_ENGINES),
                        help="comma-separated synthesisers; 'mbrola' (festival MBROLA voices, "
                             "non-commercial licence) is opt-in: add it to this list")
    parser.add_argument("--seed", type=int, default=0, help="seed for sentence order and voice jitter")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        stats, missing = prepare(args.out, args.hours, args.eval_utts_per_spk, args.seed, args.nj,
                                 args.unlab_hours, args.long_recordings, args.long_minutes,
                                 args.kokoro_hours, args.engines, args.max_engine_share,
                                 args.unlab_max_engine_share)
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
    for line in missing:
        print(f"left out: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
