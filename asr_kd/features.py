"""Log-mel fbank (Kaldi-compatible), global CMVN, SpecAugment, and the on-disk feature cache.

The cache lets training read features instead of decoding audio every epoch: `feats.npy`
(float16, (total_frames, num_mel_bins)) plus `feats.idx` (`<utt> <offset> <num_frames>`);
`AudioFeatures` computes the same numbers from the audio when a corpus is too large to cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torchaudio
from tqdm import tqdm

from asr_kd.config import FeatureConfig, SpecAugConfig, VTLPConfig
from asr_kd.data.audio import SAMPLE_RATE, AudioError, audio_samples, load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.fileio import atomic_path, write_json, write_text
from asr_kd.framing import check_length, frame_samples, num_frames
from asr_kd.shards import check_shard, remove_shards, save_concatenated, shard_dir, shard_dirs, shard_slice

FEATS, FEATS_INDEX, SKIPPED, CMVN = "feats.npy", "feats.idx", "feats.skipped", "cmvn.json"
# Kaldi's fbank band (20 Hz to Nyquist) and VTLN cut-offs (100 Hz, Nyquist - 500 Hz), passed to fbank
# explicitly so that `vtlp` warps the same mel axis the features were computed on.
LOW_FREQ, HIGH_FREQ, VTLN_LOW, VTLN_HIGH = 20.0, SAMPLE_RATE / 2, 100.0, SAMPLE_RATE / 2 - 500.0


def fbank(wave: torch.Tensor, conf: FeatureConfig) -> torch.Tensor:
    """(S,) float waveform in [-1, 1] at 16 kHz -> (T, num_mel_bins) log-mel fbank."""
    # Kaldi computes fbank on int16-scaled samples; match it so the numbers mean the same.
    return torchaudio.compliance.kaldi.fbank(
        wave.unsqueeze(0) * 32768.0,
        num_mel_bins=conf.num_mel_bins,
        frame_length=conf.frame_length_ms,
        frame_shift=conf.frame_shift_ms,
        dither=conf.dither,
        energy_floor=0.0,
        sample_frequency=SAMPLE_RATE,
        low_freq=LOW_FREQ,
        high_freq=HIGH_FREQ,
        vtln_low=VTLN_LOW,
        vtln_high=VTLN_HIGH,
    )


def pad_with_silence(feats: torch.Tensor, before: int, after: int, conf: FeatureConfig) -> torch.Tensor:
    """(T, F) -> (before + T + after, F): fbank frames of digital silence (dithered as configured)
    around an utterance, as between the utterances of a long recording. Without dither every
    silent frame is the same, so one is computed and repeated."""
    n = before + after
    if n == 0:
        return feats
    win, hop = frame_samples(conf)
    if conf.dither == 0:
        silence = fbank(torch.zeros(win), conf).to(feats).expand(n, -1)  # (1, F) -> (n, F)
    else:
        silence = fbank(torch.zeros((n - 1) * hop + win), conf).to(feats)  # (n, F)
    return torch.cat([silence[:before], feats, silence[before:]])


class GlobalCMVN(torch.nn.Module):
    """(…, F) -> (…, F) normalised with corpus mean and standard deviation (stored in checkpoints)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std


def make_specaug(conf: SpecAugConfig) -> torchaudio.transforms.SpecAugment | None:
    """SpecAugment over one utterance's (F, T) features, or None when disabled."""
    if not conf.enabled:
        return None
    return torchaudio.transforms.SpecAugment(
        n_time_masks=conf.num_time_masks,
        time_mask_param=conf.time_mask_width,
        n_freq_masks=conf.num_freq_masks,
        freq_mask_param=conf.freq_mask_width,
        p=conf.max_time_mask_ratio,
        zero_masking=False,  # masked cells take the utterance mean (CMVN happens inside the model)
    )


def vtlp(feats: torch.Tensor, factor: float) -> torch.Tensor:
    """(T, F) log-mel fbank -> (T, F) as if computed with Kaldi's VTLN warp `factor` (fbank's
    `vtln_warp`; > 1 moves the spectrum up, as a shorter vocal tract does): each bin reads the
    features at its warped centre, interpolated linearly between the two nearest bins."""
    num_bins = feats.shape[-1]
    kaldi = torchaudio.compliance.kaldi
    mel_low, mel_high = kaldi.mel_scale_scalar(LOW_FREQ), kaldi.mel_scale_scalar(HIGH_FREQ)
    delta = (mel_high - mel_low) / (num_bins + 1)
    centre = mel_low + delta * torch.arange(1, num_bins + 1, dtype=torch.float64)  # (F,) mel
    warped = kaldi.vtln_warp_mel_freq(VTLN_LOW, VTLN_HIGH, LOW_FREQ, HIGH_FREQ, factor, centre)  # (F,) mel
    pos = ((warped - mel_low) / delta - 1).clamp(0, num_bins - 1)  # (F,) fractional source bin
    lo = pos.floor().long().clamp(max=num_bins - 2)
    w = (pos - lo).to(feats)  # (F,), on the features' device and dtype
    lo = lo.to(feats.device)
    return feats[:, lo] * (1 - w) + feats[:, lo + 1] * w


def draw_vtlp_factor(conf: VTLPConfig) -> float:
    """A warp factor uniform in [min_factor, max_factor] from torch's generator (seeded runs repeat)."""
    return conf.min_factor + (conf.max_factor - conf.min_factor) * torch.rand(()).item()


def compute_feats(data_dir: str | Path, conf: FeatureConfig, skip_bad: bool = False,
                  allow_pipes: bool = False, shard: tuple[int, int] | None = None) -> tuple[int, dict[str, str], int]:
    """Compute fbank for every utterance of `data_dir` into its feature cache.
    Unreadable, empty, non-finite or shorter-than-one-window audio, and segments ending more than
    MAX_OVERSHOOT_S past their recording, stop with a one-line error naming the utterance, or with
    `skip_bad` are left out and listed in DIR/feats.skipped. Segments ending less than that past
    their recording are cut at its end (as Kaldi's extract-segments does) and counted.
    With `shard` (i, N), only shard i's utterances, into DIR/split<N>/<i>/ (see `merge_feats`).
    Returns (frames, {utt: reason}, utterances cut)."""
    data_dir = Path(data_dir)
    utts = load_data_dir(data_dir, require_text=False, allow_pipes=allow_pipes)
    out_dir = data_dir
    if shard:
        utts, out_dir = shard_slice(utts, *shard), shard_dir(data_dir, *shard)
    chunks, index, offset, skipped, cut = [], [], 0, {}, 0
    for utt in tqdm(utts, desc=f"fbank {data_dir.name}", unit="utt"):
        try:
            wave = load_utterance(utt, allow_pipes)
            check_length(len(wave), conf, f"utterance {utt.utt}")
        except AudioError as e:
            if not skip_bad:
                raise
            skipped[utt.utt] = str(e)
            continue
        if utt.end is not None and (utt.end - (utt.start or 0)) * SAMPLE_RATE - len(wave) > SAMPLE_RATE / 1000:
            cut += 1
        feats = fbank(torch.from_numpy(wave), conf).numpy().astype(np.float16)
        chunks.append(feats)
        index.append(f"{utt.utt} {offset} {len(feats)}\n")
        offset += len(feats)
    with atomic_path(out_dir / FEATS) as npy, atomic_path(out_dir / FEATS_INDEX) as idx:
        with open(npy, "wb") as f:  # both written in full before either replaces the old pair
            np.save(f, np.concatenate(chunks) if chunks else np.zeros((0, conf.num_mel_bins), np.float16))
        idx.write_text("".join(index), encoding="utf-8")
    write_text(out_dir / SKIPPED, "".join(f"{u} {r}\n" for u, r in skipped.items()))
    return offset, skipped, cut


def merge_feats(data_dir: str | Path, n: int) -> int:
    """Join the feature caches of shards 1..n (`compute_feats(shard=...)`) into DIR's own, the same
    bytes as an unsharded run, and delete the shards; refused if a shard is missing or does not
    hold exactly its utterances. Returns the frames."""
    data_dir = Path(data_dir)
    utts = [u.utt for u in load_data_dir(data_dir, require_text=False, allow_pipes=True)]  # only listed, not run
    caches, index, skipped, offset = [], [], [], 0
    for i, d in enumerate(shard_dirs(data_dir, n, SKIPPED), 1):
        cache, bad = FeatureCache(d), (d / SKIPPED).read_text(encoding="utf-8")
        have = [*cache.index, *(line.split(" ", 1)[0] for line in bad.splitlines())]
        check_shard(data_dir, i, n, shard_slice(utts, i, n), have)
        for utt, (o, k) in cache.index.items():
            index.append(f"{utt} {offset + o} {k}\n")
        caches.append(cache.feats)
        skipped.append(bad)
        offset += cache.feats.shape[0]
    width = {c.shape[1] for c in caches}
    if len(width) > 1:
        raise ValueError(f"{data_dir}: the shards have different numbers of mel bins {sorted(width)}; rerun them "
                         "with one --config")
    with atomic_path(data_dir / FEATS) as npy, atomic_path(data_dir / FEATS_INDEX) as idx:
        save_concatenated(npy, caches, np.float16, width.pop())
        idx.write_text("".join(index), encoding="utf-8")
    write_text(data_dir / SKIPPED, "".join(skipped))
    remove_shards(data_dir, n, (FEATS, FEATS_INDEX, SKIPPED))
    return offset


class FeatureCache:
    """Read-only, memory-mapped view of a data dir's feature cache."""

    def __init__(self, data_dir: str | Path):
        data_dir = Path(data_dir)
        if not (data_dir / FEATS_INDEX).exists():
            raise FileNotFoundError(f"{data_dir}: no feature cache; run `asr-kd compute-feats {data_dir}` first")
        self.feats = np.load(data_dir / FEATS, mmap_mode="r")
        self.index = {}
        for line in (data_dir / FEATS_INDEX).read_text().splitlines():
            utt, offset, n = line.split()
            self.index[utt] = (int(offset), int(n))
        indexed = max((o + n for o, n in self.index.values()), default=0)
        if indexed != self.feats.shape[0]:
            raise ValueError(f"{data_dir}: {FEATS} ({self.feats.shape[0]} frames) and {FEATS_INDEX} ({indexed} frames) "
                             f"do not belong together (interrupted compute-feats?); rerun asr-kd compute-feats")

    def __getitem__(self, utt: str) -> np.ndarray:
        """(T, F) float32 features of `utt`."""
        offset, n = self.index[utt]
        return np.asarray(self.feats[offset : offset + n], dtype=np.float32)

    def num_frames(self, utt: str) -> int:
        return self.index[utt][1]


class AudioFeatures:
    """FeatureCache's interface computed from a data dir's audio on demand (training's on-the-fly
    features, e.g. in DataLoader workers): fbank rounded through float16 as the cache stores it, so the
    same utterance gives the same numbers either way. Frame counts come from the audio headers (exact
    at 16 kHz; resampled audio may get one frame more or less when read)."""

    def __init__(self, data_dir: str | Path, conf: FeatureConfig):
        self.conf = conf
        self.utts = {u.utt: u for u in load_data_dir(data_dir, require_text=False)}
        self.index = {}
        for utt in self.utts.values():
            n = num_frames(audio_samples(utt), conf)
            if n > 0:
                self.index[utt.utt] = n

    def __getitem__(self, utt: str) -> np.ndarray:
        """(T, F) float32 features of `utt`, read and computed now."""
        wave = torch.from_numpy(load_utterance(self.utts[utt]))
        return fbank(wave, self.conf).to(torch.float16).float().numpy()

    def num_frames(self, utt: str) -> int:
        return self.index[utt]


def compute_cmvn(data_dir: str | Path) -> dict:
    """Global mean/std over the feature cache of `data_dir`, written to `cmvn.json` and returned."""
    cache = FeatureCache(data_dir)
    total = np.zeros(cache.feats.shape[1], np.float64)
    total_sq = np.zeros_like(total)
    for start in range(0, cache.feats.shape[0], 100_000):
        block = np.asarray(cache.feats[start : start + 100_000], dtype=np.float64)
        total += block.sum(0)
        total_sq += (block**2).sum(0)
    frames = cache.feats.shape[0]
    mean = total / frames
    std = np.sqrt(np.maximum(total_sq / frames - mean**2, 1e-8))
    stats = {"frames": int(frames), "mean": mean.tolist(), "std": std.tolist()}
    write_json(Path(data_dir) / CMVN, stats)
    return stats


def load_cmvn(path: str | Path) -> GlobalCMVN:
    stats = json.loads(Path(path).read_text())
    return GlobalCMVN(torch.tensor(stats["mean"]), torch.tensor(stats["std"]))


