"""Offline teacher posteriors: the top-k log-probabilities (fp16) and their symbol ids per 40 ms
frame, stored once per data dir so that KD epochs read them instead of running the teacher.

Layout of the cache folder (memory-mapped on read, like the feature cache): `logp.npy` (N, k)
float16, `ids.npy` (N, k) int16, `index` (`<utt> <offset> <num_frames>`), `meta.json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr_kd.chunking import ChunkConfig
from asr_kd.data.audio import load_audio
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.features import FeatureCache
from asr_kd.fileio import atomic_path, write_json, write_text
from asr_kd.models.subsampling import FACTOR, subsampled_length

MISSING = -1e4  # log-probability given to symbols outside the stored top-k


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


@torch.inference_mode()
def dump_teacher(checkpoint_path: str | Path, data_dirs: str | Path | list, out_dir: str | Path, top_k: int = 16,
                 device: str = "cpu", chunk: ChunkConfig | None = None, recording_context: bool = False) -> dict:
    """Run the teacher once over the feature caches of `data_dirs` (one or several, e.g. train and
    train_unlab; utterance ids must not clash), in windows, and store its top-k in one cache.
    With `recording_context`, utterances are sliced from a pass over their whole recordings."""
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(checkpoint_path, device=device, chunk=chunk)
    dirs = [data_dirs] if isinstance(data_dirs, (str, Path)) else list(data_dirs)
    caches = {}
    for d in dirs:
        cache = FeatureCache(d)
        clash = caches.keys() & cache.index.keys()
        if clash:
            raise ValueError(f"{d}: utterance id {min(clash)!r} also occurs in another data dir")
        caches.update(dict.fromkeys(cache.index, cache))
    k = min(top_k, len(rec.units))
    logps, ids, index, offset = [], [], [], 0
    pairs = _recording_logits(rec, caches, dirs) if recording_context else _utterance_logits(rec, caches)
    for utt, logits in pairs:
        top = logits.log_softmax(-1).topk(k, dim=-1)
        logps.append(top.values.cpu().numpy().astype(np.float16))
        ids.append(top.indices.cpu().numpy().astype(np.int16))
        index.append(f"{utt} {offset} {logits.shape[0]}\n")
        offset += logits.shape[0]
    out_dir = Path(out_dir)
    for name, parts, dtype in (("logp.npy", logps, np.float16), ("ids.npy", ids, np.int16)):
        with atomic_path(out_dir / name) as tmp, open(tmp, "wb") as f:
            np.save(f, np.concatenate(parts) if parts else np.zeros((0, k), dtype))
    write_text(out_dir / "index", "".join(index))
    meta = {"checkpoint": str(checkpoint_path), "top_k": k, "vocab": len(rec.units), "units": rec.units.symbols,
            "frames": offset, "recording_context": recording_context,
            "bytes": int((out_dir / "logp.npy").stat().st_size + (out_dir / "ids.npy").stat().st_size)}
    write_json(out_dir / "meta.json", meta)
    return meta


class TeacherCache:
    """Read-only, memory-mapped teacher top-k posteriors."""

    def __init__(self, cache_dir: str | Path):
        cache_dir = Path(cache_dir)
        if not (cache_dir / "index").exists():
            raise FileNotFoundError(f"{cache_dir}: no teacher cache; run `asr-kd dump-teacher` first")
        self.meta = json.loads((cache_dir / "meta.json").read_text())
        self.logp = np.load(cache_dir / "logp.npy", mmap_mode="r")
        self.ids = np.load(cache_dir / "ids.npy", mmap_mode="r")
        self.index = {u: (int(o), int(n)) for u, o, n in (line.split() for line in (cache_dir / "index").read_text().splitlines())}

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
