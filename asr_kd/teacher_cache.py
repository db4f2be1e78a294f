"""Offline teacher posteriors: the top-k log-probabilities (fp16) and their symbol ids per 40 ms
frame, stored once per data dir so that KD epochs read them instead of running the teacher.

Layout of the cache folder (memory-mapped on read, like the feature cache): `logp.npy` (N, k)
float16, `ids.npy` (N, k) int16, `index` (`<utt> <offset> <num_frames>`, written last), `meta.json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr_kd.data.audio import load_audio
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.features import FeatureCache
from asr_kd.fileio import atomic_path, write_json, write_text
from asr_kd.framing import FACTOR, ChunkConfig, subsampled_length
from asr_kd.shards import check_shard, remove_shards, save_concatenated, shard_dir, shard_dirs, shard_slice

MISSING = -1e4  # log-probability given to symbols outside the stored top-k
LOGP, IDS, INDEX, META = "logp.npy", "ids.npy", "index", "meta.json"


def _utterance_logits(rec, caches: dict) -> Iterator[tuple[str, torch.Tensor]]:
    """(utt, (T', V) teacher logits) from each utterance's own cached features."""
    for utt in tqdm(sorted(caches), desc="dump-teacher", unit="utt"):
        yield utt, rec.logits(torch.from_numpy(caches[utt][utt]).to(rec.device)).float()


def _recording_logits(rec, caches: dict, dirs: list) -> Iterator[tuple[str, torch.Tensor]]:
    """(utt, (T', V) teacher logits) sliced from a pass over each utterance's whole recording (in
    windows), so a piece cut from a longer utterance (`segments`, e.g. by split-long) gets the
    teacher's view with its neighbours as context; T' is the piece's own output frame count."""
    by_reco: dict[str, list] = {}
    for d in dirs:
        for u in load_data_dir(d, require_text=False):
            if u.utt in caches:
                by_reco.setdefault(u.path, []).append(u)
    frame_seconds = FACTOR * rec.feature_conf.frame_shift_ms / 1000
    for path, utts in tqdm(sorted(by_reco.items()), desc="dump-teacher (whole recordings)", unit="rec"):
        full = rec.logits(rec.features(load_audio(path))).float()  # (N, V) for the recording
        for u in utts:
            n = subsampled_length(caches[u.utt].num_frames(u.utt))
            a = min(round((u.start or 0.0) / frame_seconds), full.shape[0])
            piece = full[a : a + n]
            if piece.shape[0] < n:  # rounding at the very end of the file: certain blank
                tail = torch.full((n - piece.shape[0], full.shape[1]), MISSING)
                tail[:, 0] = 0.0
                piece = torch.cat([piece, tail])
            yield u.utt, piece


def _dirs(data_dirs: str | Path | list) -> list:
    return [data_dirs] if isinstance(data_dirs, (str, Path)) else list(data_dirs)


def _feature_caches(dirs: list) -> dict[str, FeatureCache]:
    """{utt: the feature cache holding it} over `dirs`, in sorted utterance order; ids must not clash."""
    caches = {}
    for d in dirs:
        cache = FeatureCache(d)
        clash = caches.keys() & cache.index.keys()
        if clash:
            raise ValueError(f"{d}: utterance id {min(clash)!r} also occurs in another data dir")
        caches.update(dict.fromkeys(cache.index, cache))
    return {u: caches[u] for u in sorted(caches)}


def _write_cache(out_dir: Path, logps: list, ids: list, index: list[str], meta: dict) -> dict:
    """Write the arrays, meta.json (with `bytes`) and, last, `index`; returns the meta."""
    for name, parts, dtype in ((LOGP, logps, np.float16), (IDS, ids, np.int16)):
        with atomic_path(out_dir / name) as tmp:
            save_concatenated(tmp, parts, dtype, meta["top_k"])
    meta = {**meta, "bytes": int((out_dir / LOGP).stat().st_size + (out_dir / IDS).stat().st_size)}
    write_json(out_dir / META, meta)
    write_text(out_dir / INDEX, "".join(index))
    return meta


@torch.inference_mode()
def dump_teacher(checkpoint_path: str | Path, data_dirs: str | Path | list, out_dir: str | Path, top_k: int = 16,
                 device: str = "cpu", chunk: ChunkConfig | None = None, recording_context: bool = False,
                 shard: tuple[int, int] | None = None) -> dict:
    """Run the teacher once over the feature caches of `data_dirs` (one or several, e.g. train and
    train_unlab; utterance ids must not clash), in windows, and store its top-k in one cache, rows
    in sorted utterance order. With `recording_context`, utterances are sliced from a pass over
    their whole recordings. With `shard` (i, N), only shard i's utterances, into
    OUT/split<N>/<i>/ (see `merge_teacher_cache`)."""
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(checkpoint_path, device=device, chunk=chunk)
    dirs = _dirs(data_dirs)
    caches = _feature_caches(dirs)
    out_dir = Path(out_dir)
    if shard:
        caches = {u: caches[u] for u in shard_slice(list(caches), *shard)}
        out_dir = shard_dir(out_dir, *shard)
    k = min(top_k, len(rec.units))
    tops = {}
    pairs = _recording_logits(rec, caches, dirs) if recording_context else _utterance_logits(rec, caches)
    for utt, logits in pairs:
        top = logits.log_softmax(-1).topk(k, dim=-1)
        tops[utt] = (top.values.cpu().numpy().astype(np.float16), top.indices.cpu().numpy().astype(np.int16))
    index, offset = [], 0
    for utt in caches:
        index.append(f"{utt} {offset} {len(tops[utt][0])}\n")
        offset += len(tops[utt][0])
    meta = {"checkpoint": str(checkpoint_path), "top_k": k, "vocab": len(rec.units), "units": rec.units.symbols,
            "frames": offset, "recording_context": recording_context}
    return _write_cache(out_dir, [tops[u][0] for u in caches], [tops[u][1] for u in caches], index, meta)


def merge_teacher_cache(data_dirs: str | Path | list, out_dir: str | Path, n: int) -> dict:
    """Join the caches of shards 1..n (`dump_teacher(shard=...)` over the same `data_dirs`) into
    OUT, the same arrays as an unsharded dump, and delete the shards; refused if a shard is missing,
    does not hold exactly its utterances, or was made with another teacher or settings."""
    out_dir = Path(out_dir)
    utts = list(_feature_caches(_dirs(data_dirs)))
    shards = [TeacherCache(d) for d in shard_dirs(out_dir, n, INDEX)]
    settings = {k: v for k, v in shards[0].meta.items() if k not in ("frames", "bytes")}
    logps, ids, index, offset = [], [], [], 0
    for i, cache in enumerate(shards, 1):
        differ = sorted(k for k in settings if cache.meta.get(k) != settings[k])
        if differ:
            raise ValueError(f"{shard_dir(out_dir, i, n)}: made with other {', '.join(differ)} than shard 1; "
                             "rerun the shard jobs with one teacher and the same options")
        check_shard(out_dir, i, n, shard_slice(utts, i, n), list(cache.index))
        index += [f"{utt} {offset + o} {k}\n" for utt, (o, k) in cache.index.items()]
        logps.append(cache.logp)
        ids.append(cache.ids)
        offset += len(cache.logp)
    meta = _write_cache(out_dir, logps, ids, index, {**settings, "frames": offset})
    remove_shards(out_dir, n, (LOGP, IDS, META, INDEX))
    return meta


class TeacherCache:
    """Read-only, memory-mapped teacher top-k posteriors."""

    def __init__(self, cache_dir: str | Path):
        cache_dir = Path(cache_dir)
        if not (cache_dir / INDEX).exists():
            raise FileNotFoundError(f"{cache_dir}: no teacher cache; run `asr-kd dump-teacher` first")
        self.meta = json.loads((cache_dir / META).read_text())
        self.logp = np.load(cache_dir / LOGP, mmap_mode="r")
        self.ids = np.load(cache_dir / IDS, mmap_mode="r")
        self.index = {u: (int(o), int(n)) for u, o, n in (line.split() for line in (cache_dir / INDEX).read_text().splitlines())}
        indexed = max((o + n for o, n in self.index.values()), default=0)
        if not indexed == len(self.logp) == len(self.ids):
            raise ValueError(f"{cache_dir}: {LOGP} ({len(self.logp)} frames), {IDS} ({len(self.ids)}) and {INDEX} "
                             f"({indexed}) do not belong together (interrupted dump?); rerun asr-kd dump-teacher")

    def __getitem__(self, utt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(T', k) float32 log-probs and (T', k) int64 ids of `utt`."""
        offset, n = self.index[utt]
        return (torch.from_numpy(np.asarray(self.logp[offset : offset + n], np.float32)),
                torch.from_numpy(np.asarray(self.ids[offset : offset + n], np.int64)))

    def dense(self, utts: list[str], max_frames: int, shifts: list[int] | None = None) -> torch.Tensor:
        """(B, max_frames, V) teacher log-probs for a batch: the stored top-k, MISSING elsewhere
        (so softmax renormalises over the top-k). Utterance b starts at frame `shifts[b]` (silence
        added in front, see train_conf.pad_silence_s); frames outside it are certain blank."""
        out = torch.full((len(utts), max_frames, self.meta["vocab"]), MISSING)
        out[..., 0] = 0.0
        for b, utt in enumerate(utts):
            logp, ids = self[utt]
            s = shifts[b] if shifts else 0
            n = max(0, min(max_frames - s, logp.shape[0]))
            out[b, s : s + n] = MISSING
            out[b, s : s + n].scatter_(1, ids[:n], logp[:n])
        return out
