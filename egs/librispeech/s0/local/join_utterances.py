#!/usr/bin/env python3
"""A stand-in training set with LibriSpeech's utterance lengths, made from any Kaldi data dir: each
speaker's utterances, in order, joined into WAVs of 12.7 s on average (train-clean-100: 100.6 h in 28,539
utterances), spread +-3.4 s, at most 24.5 s. Training speed depends on utterance length (attention spans,
RNN time steps per batch), so local/gpu_budget.sh measures the presets on this when LibriSpeech is absent."""

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from asr_kd.data.audio import SAMPLE_RATE, audio_samples, load_utterance
from asr_kd.data.kaldi_dir import Utterance, load_data_dir, write_data_dir
from asr_kd.fileio import atomic_path

MEAN_S, SPREAD_S, MIN_S, MAX_S = 12.7, 3.4, 1.5, 24.5


def _target(rng: np.random.Generator) -> float:
    """Seconds to fill for the next joined utterance."""
    return float(np.clip(rng.normal(MEAN_S, SPREAD_S), MIN_S, MAX_S))


def plan(utts: list[Utterance], seconds_of: dict[str, float], seed: int) -> list[tuple[str, list[Utterance]]]:
    """(new utterance id, the source utterances it joins): one speaker's in order until a drawn length."""
    rng, groups, by_spk = np.random.default_rng(seed), [], {}
    for u in utts:
        by_spk.setdefault(u.spk, []).append(u)
    for spk, mine in by_spk.items():
        group, seconds, target = [], 0.0, _target(rng)
        for u in mine:
            if group and (seconds >= target or seconds + seconds_of[u.utt] > MAX_S):
                groups.append((f"{spk}-joined{len(groups):05d}", group))
                group, seconds, target = [], 0.0, _target(rng)
            group.append(u)
            seconds += seconds_of[u.utt]
        groups.append((f"{spk}-joined{len(groups):05d}", group))
    return groups


def write_joined(job: tuple[str, list[Utterance], str]) -> tuple[str, float]:
    """One joined utterance's WAV (written whole, then renamed); returns (its path, seconds)."""
    utt, sources, wav_dir = job
    wave = np.concatenate([load_utterance(u) for u in sources])
    path = Path(wav_dir) / f"{utt}.wav"
    with atomic_path(path) as tmp:
        sf.write(tmp, wave, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return str(path.resolve()), len(wave) / SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("src", type=Path, help="Kaldi data dir (wav.scp, text, utt2spk; utt2dur if present)")
    parser.add_argument("out", type=Path, help="data dir to write; its WAVs go to OUT/wav/")
    parser.add_argument("--nj", type=int, default=2, help="parallel writers")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    utts = load_data_dir(a.src)
    seconds_of = {}  # lengths only steer the grouping; the WAVs hold the real audio
    if (a.src / "utt2dur").exists():
        seconds_of = {k: float(v) for k, v in (line.split() for line in (a.src / "utt2dur").read_text().splitlines())}
    for u in utts:
        if u.utt not in seconds_of:
            seconds_of[u.utt] = audio_samples(u) / SAMPLE_RATE  # from the header (segments, any rate)
    groups = plan(utts, seconds_of, a.seed)
    (a.out / "wav").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(a.nj) as pool:
        written = list(pool.map(write_joined, [(utt, g, str(a.out / "wav")) for utt, g in groups], chunksize=16))
    joined = [Utterance(utt, g[0].spk, path, text=" ".join(u.text for u in g))
              for (utt, g), (path, _) in zip(groups, written)]
    write_data_dir(a.out, joined, {utt: s for (utt, _), (_, s) in zip(groups, written)})
    hours = sum(s for _, s in written) / 3600
    print(f"{a.out}: {len(joined)} utterances from {len(utts)}, {hours:.2f} h, "
          f"mean {3600 * hours / max(1, len(joined)):.1f} s")


if __name__ == "__main__":
    main()
