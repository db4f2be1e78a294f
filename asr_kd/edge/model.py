"""ONNX models from `asr-kd export` run with onnxruntime: the metadata (units, feature settings,
streaming layout) and the two ways to call them, whole windows (offline exports) or chunk by chunk
with carried state (`--streaming` exports of unidirectional RNN students)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from asr_kd.config import FeatureConfig, from_dict
from asr_kd.data.tokens import Units
from asr_kd.framing import ChunkConfig, make_windows, subsampled_length

META = "asr_kd.json"  # the metadata key `asr-kd export` writes
OFFLINE_BLOCK_FRAMES = 6000  # fbank frames per streaming call when a streaming export decodes a whole file


class ModelError(ValueError):
    """A model file that cannot be used; the message names it."""


class OnnxCTC:
    """An exported CTC model: (T, F) fbank -> (T', V) logits, offline or streaming."""

    def __init__(self, path: str | Path, num_threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        opts = ort.SessionOptions()
        if num_threads:
            opts.intra_op_num_threads = num_threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            meta = json.loads(self.session.get_modelmeta().custom_metadata_map[META])
            self.units = Units.from_meta(meta)
            self.feature_conf = from_dict(FeatureConfig, meta["feature_conf"], "feature_conf")
        except KeyError:
            raise ModelError(f"{path}: not exported by asr-kd (no {META} metadata)") from None
        except Exception as e:  # onnxruntime, json and the metadata each raise their own types
            raise ModelError(f"{path}: not a usable asr-kd ONNX model ({str(e).splitlines()[0]})") from None
        self.path, self.num_params, self.streaming = path, meta["params"], meta.get("streaming")
        self.output_delay = int(meta.get("output_delay", 0))  # frames its spikes lag the audio (kd_conf.delay)
        self.vocab_size = len(self.units)

    def initial_state(self) -> dict[str, np.ndarray]:
        """State before the first chunk: an empty front-end cache (1, 0, F) and zero RNN states."""
        if not self.streaming:
            raise ModelError(f"{self.path}: an offline export cannot stream; export with `asr-kd export --streaming`")
        state = {self.streaming["cache"]: np.zeros((1, 0, self.feature_conf.num_mel_bins), np.float32)}
        for s in self.streaming["state"]:
            state[s["name"]] = np.zeros(s["shape"], np.float32)
        return state

    def step(self, chunk: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(L, F) new fbank frames + state -> (L', V) logits of the output frames they complete, next state.
        Too few frames for one output frame only grow the cache."""
        cache = state[self.streaming["cache"]]  # (1, K, F)
        if cache.shape[1] + len(chunk) < self.streaming["min_input_frames"]:
            return (np.zeros((0, self.vocab_size), np.float32),
                    {**state, self.streaming["cache"]: np.concatenate([cache, chunk[None]], 1)})
        outs = self.session.run(None, {**state, "chunk": np.ascontiguousarray(chunk[None], np.float32)})
        names = [self.streaming["cache"], *(s["name"] for s in self.streaming["state"])]
        return outs[0][0], dict(zip(names, outs[1:]))

    def logits(self, feats: np.ndarray, chunk: ChunkConfig | None = None) -> np.ndarray:
        """(T, F) -> (T', V), T' = subsampled_length(T); see `block_logits`."""
        feats = np.asarray(feats, np.float32)
        return self.block_logits([feats], len(feats), chunk)

    def block_logits(self, blocks: Iterable[np.ndarray], total: int, chunk: ChunkConfig | None = None) -> np.ndarray:
        """(L_i, F) fbank blocks of one utterance, `total` frames in all -> (T', V) logits,
        T' = subsampled_length(total). A streaming export runs block by block with its state, an offline
        one window by window (asr_kd.framing) over the frames as they arrive: memory is bounded by a
        block or a window, never the whole utterance's features."""
        if self.streaming:
            state, pieces = self.initial_state(), []
            for block in blocks:
                for a in range(0, len(block), OFFLINE_BLOCK_FRAMES):
                    out, state = self.step(block[a : a + OFFLINE_BLOCK_FRAMES], state)
                    pieces.append(out)
        else:
            frames, pieces = FrameQueue(blocks), []
            for w in make_windows(total, chunk or ChunkConfig()):
                x = frames.span(w.in_start, w.in_end)[None]  # (1, L, F)
                out, _ = self.session.run(None, {"feats": x, "lens": np.array([x.shape[1]], np.int64)})
                pieces.append(out[0, w.keep_start : w.keep_end])
        out = np.concatenate(pieces) if pieces else np.zeros((0, self.vocab_size), np.float32)
        assert len(out) == max(subsampled_length(total), 0), "windows lost frames"
        return out


class FrameQueue:
    """Frames arriving in blocks, read as spans [a, b) whose starts never decrease: frames before the
    latest start are dropped, so only a window and a block are held."""

    def __init__(self, blocks: Iterable[np.ndarray]):
        self._blocks = iter(blocks)
        self._buf: np.ndarray | None = None  # (n, F) frames from index self._start on
        self._start = 0

    def span(self, a: int, b: int) -> np.ndarray:
        """(b - a, F) float32 frames a..b-1 (contiguous)."""
        buf = self._buf if self._buf is not None else np.asarray(next(self._blocks), np.float32)
        buf, self._start = buf[a - self._start :], a
        while len(buf) < b - a:
            buf = np.concatenate([buf, np.asarray(next(self._blocks), np.float32)])
        self._buf = buf
        return np.ascontiguousarray(buf[: b - a])
