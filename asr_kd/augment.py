"""Augmented copies of a Kaldi data dir (as Kaldi's perturb_data_dir_speed.sh + combine_data.sh):
speed, pitch, additive noise (coloured or babble), synthetic reverberation and a telephone band,
written as 16 kHz PCM-16 wavs so features and the teacher cache see exactly the perturbed audio.

Every copy's choices come from an RNG seeded by (seed, copy, utterance id): a run can be resumed
or split over processes and gives the same files. OUT/utt2aug lists what each copy got."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
import torchaudio
from tqdm import tqdm

from asr_kd.config import AugmentConfig, changed_keys
from asr_kd.data.audio import SAMPLE_RATE, audio_duration, load_utterance
from asr_kd.data.kaldi_dir import Utterance, load_data_dir, write_data_dir, write_table
from asr_kd.fileio import atomic_path, write_json

PEAK = 0.99  # clip protection: copies are scaled down so that no sample exceeds this
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # noise power ~ 1 / f^beta
BABBLE_TALKERS = (3, 5)  # other utterances mixed into one babble noise
TELEPHONE_RATE, TELEPHONE_BAND = 8000, (300.0, 3400.0)


def _fit(wave: np.ndarray, n: int) -> np.ndarray:
    """(S,) -> (n,): cut or zero-pad at the end."""
    return np.pad(wave[:n], (0, max(0, n - len(wave))))


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """(S,) -> (~S / factor,): Kaldi/sox `speed`: play the samples `factor` times faster (tempo and pitch change)."""
    return soxr.resample(wave, SAMPLE_RATE * factor, SAMPLE_RATE).astype(np.float32)


def pitch_shift(wave: np.ndarray, semitones: float) -> np.ndarray:
    """(S,) -> (S,): pitch and formants up by `semitones`, tempo kept: a phase-vocoder stretch by
    r = 2^(semitones/12), then resampling that plays it r times faster. torchaudio's pitch_shift does
    the same but resamples with torchaudio at an integer rate ratio of ~16000:15101, i.e. a polyphase
    kernel of thousands of phases per call; soxr takes any ratio."""
    r = 2.0 ** (semitones / 12)
    n_fft, hop = 512, 128
    window = torch.hann_window(n_fft)
    spec = torch.stft(torch.from_numpy(wave), n_fft, hop, window=window, return_complex=True)  # (F, T)
    advance = torch.linspace(0, math.pi * hop, n_fft // 2 + 1)[:, None]  # (F, 1)
    stretched = torchaudio.functional.phase_vocoder(spec, 1 / r, advance)  # (F, ~T * r)
    longer = torch.istft(stretched, n_fft, hop, window=window, length=round(len(wave) * r)).numpy()  # (~S * r,)
    return _fit(soxr.resample(longer, SAMPLE_RATE * r, SAMPLE_RATE), len(wave)).astype(np.float32)


def coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) unit-RMS noise with power ~ 1/f^beta (0 white, 1 pink, 2 brown), shaped in the
    frequency domain; below 20 Hz (under the lowest mel bin) the spectrum stays flat, DC is 0."""
    spec = np.fft.rfft(rng.standard_normal(n))  # (n // 2 + 1,)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec *= np.maximum(freqs, 20.0) ** (-beta / 2)
    spec[0] = 0.0
    noise = np.fft.irfft(spec, n)
    return (noise / max(np.sqrt(np.mean(noise**2)), 1e-12)).astype(np.float32)


def babble(talkers: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) sum of other utterances, each at unit RMS, looped from a random offset to length n."""
    mix = np.zeros(n, np.float32)
    for wave in talkers:
        looped = np.resize(np.roll(wave, -int(rng.integers(len(wave)))), n)
        mix += looped / max(np.sqrt(np.mean(looped**2)), 1e-12)
    return mix


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """(S,) + (S,) noise scaled so that signal power / noise power = `snr_db` over the utterance."""
    gain = np.sqrt(np.mean(wave**2) / (max(np.mean(noise**2), 1e-20) * 10 ** (snr_db / 10)))
    return (wave + gain * noise).astype(np.float32)


def synthetic_rir(rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """(L,) unit-energy room impulse response, L = rt60 seconds: a direct-path spike at sample 0 and
    a noise tail whose energy decays 60 dB in `rt60` seconds, `drr_db` below the direct path."""
    n = max(2, int(rt60 * SAMPLE_RATE))
    t = np.arange(1, n) / SAMPLE_RATE
    tail = rng.standard_normal(n - 1) * np.exp(-3 * math.log(10) * t / rt60)  # amplitude -60 dB at rt60
    tail *= math.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    rir = np.concatenate([[1.0], tail])
    return (rir / np.linalg.norm(rir)).astype(np.float32)


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """(S,) * (L,) -> (S,): convolution cut to the input length; the direct path at lag 0 adds no delay."""
    full = torchaudio.functional.fftconvolve(torch.from_numpy(wave), torch.from_numpy(rir))  # (S + L - 1,)
    return full[: len(wave)].numpy()


def telephone(wave: np.ndarray) -> np.ndarray:
    """(S,) -> (S,): a telephone channel: to 8 kHz and back (soxr), with two 2nd-order high-passes
    at 300 Hz and two low-passes at 3400 Hz in between."""
    narrow = soxr.resample(wave, SAMPLE_RATE, TELEPHONE_RATE)
    scale = max(1.0, float(np.abs(narrow).max()))  # torchaudio's biquads clamp to [-1, 1]: filter in range
    x = torch.from_numpy(narrow / scale)
    for _ in range(2):
        x = torchaudio.functional.highpass_biquad(x, TELEPHONE_RATE, TELEPHONE_BAND[0])
        x = torchaudio.functional.lowpass_biquad(x, TELEPHONE_RATE, TELEPHONE_BAND[1])
    return _fit(soxr.resample(x.numpy() * scale, TELEPHONE_RATE, SAMPLE_RATE), len(wave)).astype(np.float32)


@dataclass(frozen=True)
class CopyPlan:
    """What one augmented copy gets (None / False = not applied); `seed` drives its noise and room."""

    utt: str  # output utterance id
    spk: str
    speed: float
    pitch: float | None
    noise: str | None  # white | pink | brown | babble
    snr_db: float
    talkers: tuple[Utterance, ...]  # the babble
    rt60: float | None
    drr_db: float
    telephone: bool
    seed: int

    def describe(self) -> str:
        """`speed=1.1 pitch=-1.3 noise=babble@12.0dB reverb=rt60:0.41,drr:3.0dB telephone` (`none`: clean)."""
        parts = [f"speed={self.speed:g}"] if self.speed != 1.0 else []
        parts += [f"pitch={self.pitch:+.1f}"] if self.pitch is not None else []
        parts += [f"noise={self.noise}@{self.snr_db:.1f}dB"] if self.noise else []
        parts += [f"reverb=rt60:{self.rt60:.2f},drr:{self.drr_db:.1f}dB"] if self.rt60 is not None else []
        parts += ["telephone"] if self.telephone else []
        return " ".join(parts) or "none"


def _rng(conf: AugmentConfig, copy: int, utt: str) -> np.random.Generator:
    digest = int.from_bytes(hashlib.sha256(utt.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([conf.seed, copy, digest])


def plan_copies(conf: AugmentConfig, utt: Utterance, pool: list[Utterance]) -> list[CopyPlan]:
    """The `conf.copies` plans of `utt` (none when its draw falls outside `conf.fraction`); babble
    talkers are drawn from `pool` (the data dir). Every random number is drawn whether its switch
    is on or not, so turning one switch off leaves the others' choices as they were."""
    if _rng(conf, 0, utt.utt).random() >= conf.fraction:  # copy 0: a stream of its own, fixed per utterance
        return []
    plans = []
    for k in range(1, conf.copies + 1):
        rng = _rng(conf, k, utt.utt)
        pick = rng.random()
        speed = conf.speeds[int(pick * len(conf.speeds))] if conf.speeds else 1.0
        use_pitch, pitch = rng.random() < conf.pitch_prob, round(float(rng.uniform(*conf.pitch_semitones)), 1)
        use_noise, snr = rng.random() < conf.noise_prob, round(float(rng.uniform(*conf.snr_db)), 1)
        use_babble, colour = rng.random() < conf.babble_prob, str(rng.choice(list(COLOURS)))
        talkers = _pick_talkers(rng, pool, utt)
        use_reverb, rt60 = rng.random() < conf.reverb_prob, round(float(rng.uniform(*conf.rt60)), 2)
        drr = round(float(rng.uniform(*conf.drr_db)), 1)
        use_telephone = rng.random() < conf.telephone_prob
        babbling = use_babble and bool(talkers)  # a data dir of one utterance has nobody to babble
        prefix = f"aug{k}-" if conf.prefix_ids else ""
        plans.append(CopyPlan(
            prefix + utt.utt, prefix + utt.spk, speed, pitch if use_pitch else None,
            ("babble" if babbling else colour) if use_noise else None, snr,
            talkers if use_noise and babbling else (), rt60 if use_reverb else None, drr,
            bool(use_telephone), int(rng.integers(2**63))))
    return plans


def _pick_talkers(rng: np.random.Generator, pool: list[Utterance], utt: Utterance) -> tuple[Utterance, ...]:
    """3-5 distinct utterances of `pool` other than `utt` (fewer when the pool has fewer)."""
    want, picked = int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1)), []
    for i in rng.integers(len(pool), size=20 * want):  # (20 * want,) draws: no O(pool) scan per copy
        if pool[i].utt != utt.utt and pool[i] not in picked:
            picked.append(pool[i])
            if len(picked) == want:
                break
    return tuple(picked)


def apply_plan(plan: CopyPlan, wave: np.ndarray, allow_pipes: bool = False) -> np.ndarray:
    """(S,) clean audio -> (S / speed,) augmented copy: speed, pitch, reverb, noise, telephone, in
    that order (noise is not reverberated; the telephone channel comes last), peaks kept <= PEAK."""
    rng = np.random.default_rng(plan.seed)
    if plan.speed != 1.0:
        wave = speed_perturb(wave, plan.speed)
    if plan.pitch is not None:
        wave = pitch_shift(wave, plan.pitch)
    if plan.rt60 is not None:
        wave = reverberate(wave, synthetic_rir(plan.rt60, plan.drr_db, rng))
    if plan.noise == "babble":
        noise = babble([load_utterance(u, allow_pipes) for u in plan.talkers], len(wave), rng)
        wave = add_noise(wave, noise, plan.snr_db)
    elif plan.noise:
        wave = add_noise(wave, coloured_noise(len(wave), COLOURS[plan.noise], rng), plan.snr_db)
    if plan.telephone:
        wave = telephone(wave)
    peak = float(np.abs(wave).max(initial=0.0))
    return (wave * (PEAK / peak) if peak > PEAK else wave).astype(np.float32)


def _augment_utterance(job: tuple[Utterance, list[CopyPlan], Path, bool]) -> list[tuple[CopyPlan, Path, float, bool]]:
    """Write the copies of one utterance that are not on disk yet -> (plan, wav, seconds, written) each."""
    utt, plans, wav_dir, allow_pipes = job
    wave, done = None, []
    for plan in plans:
        path = wav_dir / f"{plan.utt}.wav"
        if path.exists():
            done.append((plan, path, audio_duration(str(path)), False))
            continue
        if wave is None:
            wave = load_utterance(utt, allow_pipes)
        copy = apply_plan(plan, wave, allow_pipes)
        with atomic_path(path) as tmp:
            sf.write(tmp, copy, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        done.append((plan, path, len(copy) / SAMPLE_RATE, True))
    return done


def _check_same_settings(out: Path, record: dict) -> None:
    """A resumed run must use the source and settings that wrote the copies already in `out`; a
    setting added to AugmentConfig after they were written counts as its default."""
    path = out / "augment_conf.json"
    if path.exists():
        changes = changed_keys(dataclasses.asdict(AugmentConfig()) | json.loads(path.read_text()), record)
        if changes:
            what = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
            raise ValueError(f"{out}: written with other settings ({what}); use another --out or delete it")
    write_json(path, record)


def augment_data_dir(data_dir: str | Path, out_dir: str | Path, conf: AugmentConfig, nj: int = 1,
                     allow_pipes: bool = False) -> dict:
    """Write `conf.copies` augmented copies of `conf.fraction` of the utterances of `data_dir` as OUT/wav/<utt>.wav
    plus a Kaldi data dir (text unchanged, utt2dur) and OUT/utt2aug; wavs already there are kept
    (resume). Returns {"utterances": written + kept, "written": newly written}."""
    if nj < 1:
        raise ValueError(f"--nj must be >= 1, got {nj}")
    utts = load_data_dir(data_dir, require_text=False, allow_pipes=allow_pipes)
    out = Path(out_dir).resolve()
    if any(c.isspace() for c in str(out)):
        raise ValueError(f"{out}: the path contains whitespace, which wav.scp cannot hold")
    if out == Path(data_dir).resolve():
        raise ValueError(f"{out}: --out must not be the source data dir")
    _check_same_settings(out, {"data": str(Path(data_dir).resolve()), **dataclasses.asdict(conf)})
    (out / "wav").mkdir(parents=True, exist_ok=True)
    jobs = [(u, plans, out / "wav", allow_pipes) for u in utts if (plans := plan_copies(conf, u, utts))]
    bar = tqdm(total=len(jobs), desc=f"augment {Path(data_dir).name}", unit="utt")  # the copied utterances
    results, threads = [], torch.get_num_threads()
    try:
        if nj == 1:
            torch.set_num_threads(1)  # as in the workers: the same float rounding, so the same files for any --nj
            for job in jobs:
                results.append(_augment_utterance(job))
                bar.update()
        else:  # spawn: no forked copies of torch's thread pools
            with ProcessPoolExecutor(nj, multiprocessing.get_context("spawn"), torch.set_num_threads, (1,)) as pool:
                for done in pool.map(_augment_utterance, jobs, chunksize=4):
                    results.append(done)
                    bar.update()
    finally:
        torch.set_num_threads(threads)
        bar.close()
    rows, durations, log, written = [], {}, {}, 0
    for (utt, _, _, _), done in zip(jobs, results):
        for plan, path, seconds, new in done:
            rows.append(Utterance(plan.utt, plan.spk, str(path), text=utt.text))
            durations[plan.utt], log[plan.utt], written = seconds, plan.describe(), written + new
    write_data_dir(out, rows, durations)
    write_table(out / "utt2aug", log)
    return {"utterances": len(rows), "written": written}
