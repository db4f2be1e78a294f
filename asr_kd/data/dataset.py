"""Training data: cached features + token targets, batched by length with padding."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from asr_kd.config import FeatureConfig
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.data.tokens import UNK, Units
from asr_kd.features import AudioFeatures, FeatureCache
from asr_kd.framing import subsampled_length

log = logging.getLogger(__name__)

Item = tuple[str, torch.Tensor, list[int]]  # one utterance as training reads it: id, (T, F) features, token ids


@dataclass
class Batch:
    utts: list[str]
    feats: torch.Tensor  # (B, T, F), zero-padded
    feat_lens: torch.Tensor  # (B,)
    targets: torch.Tensor  # (B, U), zero-padded token ids
    target_lens: torch.Tensor  # (B,), 0 for untranscribed utterances

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.utts, self.feats.to(device), self.feat_lens.to(device),
                     self.targets.to(device), self.target_lens.to(device))


class FeatureDataset(torch.utils.data.Dataset):
    """Utterances of a data dir with cached features (or, with `on_the_fly` settings, features computed
    from the audio when an item is read); drops (and counts) those CTC cannot use.
    With `transcribed=False` the text is ignored and every utterance gets an empty target: audio
    that only the KD term can learn from (see `extend` and `losses.ctc_kd_loss`)."""

    def __init__(self, data_dir: str | Path, units: Units, max_frames: int = 0, transcribed: bool = True,
                 on_the_fly: FeatureConfig | None = None):
        cache = AudioFeatures(data_dir, on_the_fly) if on_the_fly else FeatureCache(data_dir)
        self.items: list[tuple[FeatureCache | AudioFeatures, str, list[int]]] = []
        self.skipped = {"no_features": 0, "too_long": 0, "empty_text": 0, "too_short_for_ctc": 0}
        self.unk_utts = 0  # utterances with characters outside units.txt (mapped to <unk>)
        for utt in load_data_dir(data_dir, require_text=transcribed):
            if utt.utt not in cache.index:
                self.skipped["no_features"] += 1
                continue
            n = cache.num_frames(utt.utt)
            ids = units.encode(utt.text or "") if transcribed else []
            self.unk_utts += units.ids[UNK] in ids
            if max_frames and n > max_frames:
                self.skipped["too_long"] += 1
            elif transcribed and not ids:
                self.skipped["empty_text"] += 1
            elif subsampled_length(n) < max(len(ids), 1):
                self.skipped["too_short_for_ctc"] += 1
            else:
                self.items.append((cache, utt.utt, ids))
        if not self.items:
            raise ValueError(f"{data_dir}: no usable utterances (skipped: {self.skipped})")
        if any(self.skipped.values()):
            log.warning("%s: skipped utterances %s", data_dir, self.skipped)
        if self.unk_utts:
            log.warning("%s: %d utterance(s) have characters outside units.txt, mapped to <unk>",
                        data_dir, self.unk_utts)

    def extend(self, other: "FeatureDataset") -> None:
        """Add `other`'s utterances (e.g. untranscribed audio for KD); ids must not clash."""
        clash = {u for _, u, _ in self.items} & {u for _, u, _ in other.items}
        if clash:
            raise ValueError(f"utterance id {min(clash)!r} occurs in both training data dirs")
        self.items += other.items
        self.skipped = {k: v + other.skipped[k] for k, v in self.skipped.items()}
        self.unk_utts += other.unk_utts

    def __len__(self) -> int:
        return len(self.items)

    def num_frames(self, i: int) -> int:
        cache, utt, _ = self.items[i]
        return cache.num_frames(utt)

    def __getitem__(self, i: int) -> Item:
        cache, utt, ids = self.items[i]
        return utt, torch.from_numpy(cache[utt]), ids


class LengthBucketSampler(torch.utils.data.Sampler):
    """Batches of similar-length utterances holding at most `max_frames` padded frames each;
    batch order reshuffled every epoch from (seed, epoch), so runs and resumes are repeatable.

    Data-parallel sharding (`num_replicas` W > 1): every rank draws the same epoch order and takes
    whole batches of it, rank r the batches r, r + W, r + 2W, ... The batches still to run (from
    `start`, see set_epoch) are padded to a multiple of W by repeating their first ones, so every
    rank runs the same number of batches (no rank waits at the epoch's end) and together they run
    the one-process epoch, at most W - 1 batches of it twice."""

    def __init__(self, lengths: list[int], max_frames: int, shuffle: bool = True, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0):
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        self.batches: list[list[int]] = []
        batch: list[int] = []
        for i in order:
            if batch and lengths[i] * (len(batch) + 1) > max_frames:
                self.batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            self.batches.append(batch)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside {num_replicas} replicas")
        self.shuffle, self.seed, self.epoch, self.start = shuffle, seed, 0, 0
        self.num_replicas, self.rank = num_replicas, rank

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Epoch `epoch`, skipping its first `start` batches (in the one-process order: a resume)."""
        self.epoch, self.start = epoch, start

    def _rest(self) -> list[list[int]]:
        """The epoch's batches from `start` on, padded to a multiple of the replicas."""
        batches = list(self.batches)
        if self.shuffle:
            random.Random(self.seed * 100_003 + self.epoch).shuffle(batches)
        rest = batches[self.start :]
        return rest + (rest * self.num_replicas)[: -len(rest) % self.num_replicas]

    def __iter__(self):
        return iter(self._rest()[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        """This rank's batches left in the epoch."""
        return len(self._rest()) // self.num_replicas


def collate(items: list[Item]) -> Batch:
    utts = [u for u, _, _ in items]
    feats = torch.nn.utils.rnn.pad_sequence([f for _, f, _ in items], batch_first=True)
    targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(t, dtype=torch.long) for _, _, t in items], batch_first=True)
    return Batch(
        utts,
        feats,
        torch.tensor([len(f) for _, f, _ in items]),
        targets,
        torch.tensor([len(t) for _, _, t in items]),
    )


def make_loader(data: FeatureDataset, sampler: LengthBucketSampler, num_workers: int = 0, prefetch_factor: int = 2,
                seed: int = 0) -> torch.utils.data.DataLoader:
    """The sampler's batches of `data` as lists of items, read in `num_workers` worker processes (kept
    across epochs) or in this one. Silence padding, SpecAugment and collation stay in the training
    process, whose random state makes them repeatable: the loader draws its workers' seeds from a
    generator of its own, not from that state (a resumed run would draw once more)."""
    workers = {"num_workers": num_workers, "prefetch_factor": prefetch_factor,
               "persistent_workers": True} if num_workers > 0 else {}
    return torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=list,
                                       generator=torch.Generator().manual_seed(seed), **workers)
