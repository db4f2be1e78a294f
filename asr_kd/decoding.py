"""CTC search over model outputs: greedy (incremental, with pause word boundaries), prefix beam
search, and forced alignment to a given token sequence (torchaudio).

Word boundaries at pauses: models trained on single utterances rarely emit `<space>` across a
silence between two utterances (they never saw one), so words on either side of a pause merge in
long-form decoding. With `pause_frames` > 0, a run of at least that many blank frames between
two tokens counts as a word boundary and a `space` is inserted there if the model emitted none."""

from __future__ import annotations

import math
import warnings

import torch
import torchaudio


class GreedyCollapser:
    """Frame labels -> CTC token ids, incrementally (offline decoding and streaming share it):
    repeats merged, blanks dropped, and `space` inserted at pauses of >= `pause_frames` blanks."""

    def __init__(self, blank: int = 0, space: int | None = None, pause_frames: int = 0):
        if pause_frames and space is None:
            raise ValueError("pause_frames needs the id of the space symbol")
        self.blank, self.space, self.pause_frames = blank, space, pause_frames
        self.ids: list[int] = []
        self.frames: list[int] = []  # output frame of each id (an inserted space: the frame ending the pause)
        self.t = 0  # frames consumed
        self.prev = blank  # label of the previous frame, for repeat merging across calls
        self.blank_run = 0  # blank frames since the last token

    def push(self, labels: list[int]) -> list[int]:
        """Consume frame labels; returns all token ids so far."""
        for k in labels:
            if k == self.blank:
                self.blank_run += 1
            else:
                if (self.pause_frames and self.blank_run >= self.pause_frames and self.ids
                        and self.ids[-1] != self.space and k != self.space):
                    self.ids.append(self.space)
                    self.frames.append(self.t)
                if k != self.prev:
                    self.ids.append(k)
                    self.frames.append(self.t)
                self.blank_run = 0
            self.prev = k
            self.t += 1
        return self.ids


def greedy_decode(logits: torch.Tensor, lens: torch.Tensor, blank: int = 0, space: int | None = None,
                  pause_frames: int = 0) -> list[list[int]]:
    """(B, T, V) logits, (B,) frames -> per utterance the best path with repeats merged, blanks
    removed (and, with `pause_frames`, `space` inserted at pauses; see the module docstring)."""
    best = logits.argmax(-1).cpu()  # (B, T)
    return [GreedyCollapser(blank, space, pause_frames).push(path[:n].tolist()) for path, n in zip(best, lens.tolist())]


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def prefix_beam_search(log_probs: torch.Tensor, beam: int = 8, blank: int = 0,
                       token_min_logp: float = -12.0) -> list[int]:
    """(T, V) log-probabilities -> the most probable label sequence summed over all its CTC paths
    (greedy takes the best single path, which can differ). Keeps `beam` prefixes per frame, each
    with its probability of ending in blank and in non-blank; symbols below `token_min_logp` at a
    frame are not extended (pruning)."""
    lp = log_probs.float().cpu()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (p_blank, p_nonblank)
    for t in range(lp.shape[0]):
        row = lp[t].tolist()
        cands = [k for k, v in enumerate(row) if v >= token_min_logp and k != blank]
        nxt: dict[tuple[int, ...], list[float]] = {}

        def add(prefix, pb=-math.inf, pnb=-math.inf):
            cur = nxt.setdefault(prefix, [-math.inf, -math.inf])
            cur[0], cur[1] = _logaddexp(cur[0], pb), _logaddexp(cur[1], pnb)

        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            add(prefix, pb=total + row[blank])  # blank: prefix unchanged
            if prefix:  # repeat of the last symbol without a blank between: merged
                add(prefix, pnb=pnb + row[prefix[-1]])
            for k in cands:
                if prefix and k == prefix[-1]:
                    add(prefix + (k,), pnb=pb + row[k])  # a repeat needs a blank in between
                else:
                    add(prefix + (k,), pnb=total + row[k])
        best = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]), reverse=True)[:beam]
        beams = {p: (v[0], v[1]) for p, v in best}
    return list(max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))[0])


def align_tokens(logits: torch.Tensor, ids: list[int]) -> list:
    """(T, V) CTC logits and target ids -> one torchaudio TokenSpan (token, start, end) per id,
    by Viterbi forced alignment."""
    log_probs = logits.float().log_softmax(-1)[None]  # (1, T, V)
    with warnings.catch_warnings():  # torchaudio 2.9 flags forced_align as deprecated; it is pinned here
        warnings.simplefilter("ignore", UserWarning)
        path, scores = torchaudio.functional.forced_align(log_probs, torch.tensor([ids], dtype=torch.int32), blank=0)
    spans = torchaudio.functional.merge_tokens(path[0], scores[0].exp(), blank=0)
    assert len(spans) == len(ids), "forced alignment lost tokens"
    return spans
