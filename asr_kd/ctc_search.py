"""CTC search in numpy, shared by the torch recognizer and the torch-free edge runtime: greedy
collapsing (incremental), prefix beam search (whole, or per stretch between pauses), forced
alignment (token spans for word times), and token ids -> text with word times.

Word boundaries at pauses: models trained on single utterances rarely emit `<space>` across a
silence between two utterances (they never saw one), so words on either side of a pause merge in
long-form decoding. With `pause_frames` > 0, a run of at least that many blank frames between
two tokens counts as a word boundary and a `space` is inserted there if the model emitted none."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from asr_kd.data.tokens import SPACE, Units
from asr_kd.framing import FACTOR

DECODERS = ("greedy", "beam")
PAUSE_SECONDS = 0.5  # default: a silence this long between two tokens is a word boundary


@dataclass
class WordTime:
    text: str
    start: float  # seconds: the CTC spike of its first token
    end: float  # seconds: one output frame past the spike of its last token


@dataclass
class Result:
    text: str
    tokens: list[str]
    words: list[WordTime] = field(default_factory=list)


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


def log_softmax(logits) -> np.ndarray:
    """(T, V) logits (anything np.asarray takes) -> (T, V) float32 log-probabilities."""
    x = np.asarray(logits, dtype=np.float32)  # (T, V)
    top = x.max(-1, keepdims=True)  # (T, 1)
    return x - top - np.log(np.exp(x - top).sum(-1, keepdims=True))


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def prefix_beam_search(log_probs, beam: int = 8, blank: int = 0, token_min_logp: float = -12.0) -> list[int]:
    """(T, V) log-probabilities (anything np.asarray takes, e.g. a CPU tensor) -> the most probable
    label sequence summed over all its CTC paths (greedy takes the best single path, which can
    differ). Keeps `beam` prefixes per frame, each with its probability of ending in blank and in
    non-blank; symbols below `token_min_logp` at a frame are not extended (pruning)."""
    lp = np.asarray(log_probs, dtype=np.float32)  # (T, V)
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


def beam_search_between_pauses(log_probs, beam: int = 8, space: int | None = None,
                               pause_frames: int = 0) -> list[int]:
    """(T, V) log-probabilities -> token ids: prefix beam search on each stretch between pauses
    (runs of >= `pause_frames` blanks on the greedy path; 0: one stretch), the stretches joined by
    `space` where neither side has one, as greedy decoding marks pauses (see the module docstring)."""
    lp = np.asarray(log_probs, dtype=np.float32)  # (T, V)
    marks = GreedyCollapser(0, -1, pause_frames or len(lp) + 1)
    marks.push(lp.argmax(-1).tolist())
    cuts = [f for k, f in zip(marks.ids, marks.frames) if k == -1]  # frames where a pause ends
    ids: list[int] = []
    for a, b in zip([0] + cuts, cuts + [len(lp)]):
        piece = prefix_beam_search(lp[a:b], beam)
        if ids and piece and space is not None and ids[-1] != space and piece[0] != space:
            ids.append(space)
        ids += piece
    return ids


class TokenSpan(NamedTuple):
    token: int
    start: int  # first output frame of the token
    end: int  # one past its last frame


def align_token_spans(log_probs, ids: list[int], blank: int = 0) -> list[TokenSpan]:
    """(T, V) log-probabilities and target ids -> one TokenSpan per id: the Viterbi CTC alignment,
    equal to torchaudio's `forced_align` + `merge_tokens` (same pruning and tie-breaking), in numpy.
    Fewer frames than tokens plus repeated neighbours (each needs a blank between) is a ValueError."""
    lp = np.asarray(log_probs, dtype=np.float32)  # (T, V)
    if not ids:
        return []
    T, L, S = len(lp), len(ids), 2 * len(ids) + 1
    repeats = sum(a == b for a, b in zip(ids, ids[1:]))
    if T < L + repeats:
        raise ValueError(f"{T} frames cannot hold {L} tokens with {repeats} repeats")
    labels = np.full(S, blank)  # (S,) blank-interleaved targets
    labels[1::2] = ids
    emit = lp[:, labels]  # (T, S) log-probability of each state's label at each frame
    skip = np.zeros(S, bool)  # (S,) a token state reachable from the token before it (no blank between)
    skip[3::2] = np.asarray(ids[1:]) != np.asarray(ids[:-1])
    neg = np.float32(-np.inf)
    back = np.zeros((T, S), np.int8)  # (T, S) how many states back each state's best predecessor is: 0, 1 or 2
    alpha = np.full(S, neg)  # (S,)
    start, end = (0 if T > L + repeats else 1), 2
    alpha[start:end] = emit[0, start:end]
    x1, x2 = np.full(S, neg), np.full(S, neg)  # (S,) scores from one and from two states back
    for t in range(1, T):
        if T - t <= L + repeats:  # states the rest of the frames cannot complete from are dropped
            start += 1 + (start % 2 == 1 and ids[start // 2] != ids[start // 2 + 1])
        if t <= L + repeats:  # states not yet reachable
            end += 1 + (end % 2 == 0 and end < 2 * L and ids[end // 2 - 1] != ids[end // 2])
        x1[1:] = alpha[:-1]
        x2[2:] = np.where(skip[2:], alpha[:-2], neg)
        # (S,) torchaudio's tie-breaking: the state itself unless one back or two back is strictly best
        step = np.where((x2 > x1) & (x2 > alpha), 2, np.where((x1 > alpha) & (x1 > x2), 1, 0)).astype(np.int8)
        best = np.choose(step, (alpha, x1, x2))  # (S,)
        alpha = np.full(S, neg)
        alpha[start:end] = best[start:end] + emit[t, start:end]
        back[t] = step
    state = S - 1 if alpha[S - 1] > alpha[S - 2] else S - 2
    path = np.empty(T, np.int64)  # (T,) state per frame
    for t in range(T - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    change = np.flatnonzero(np.diff(path, prepend=-1, append=-1))  # (runs + 1,) frames where the state changes
    return [TokenSpan(ids[path[a] // 2], int(a), int(b)) for a, b in zip(change[:-1], change[1:]) if path[a] % 2]


def make_result(units: Units, ids: list[int], frames: list[int] | None, frame_seconds: float) -> Result:
    """Token ids (with the output frame of each, for word times; None: no word times) -> Result."""
    words = [] if frames is None else [
        WordTime(units.decode(ids[a:b]), round(frames[a] * frame_seconds, 3), round((frames[b - 1] + 1) * frame_seconds, 3))
        for a, b in units.word_spans(ids)]
    return Result(units.decode(ids), [units.symbols[i] for i in ids], words)


class CtcDecoder:
    """(T', V) logits -> Result with one configured search: the decoding of the torch recognizer and of
    the edge runtime alike. `decoder`: "greedy" (best path) or "beam" (prefix beam search of `beam_size`,
    word times from a forced alignment of its result; with `lm`, an ARPA word n-gram, flashlight's lexicon
    beam search weighted by `lm_weight`/`word_score`). Blank runs of `pause_seconds` are word boundaries;
    word times are moved `output_delay` frames earlier (the model's spikes lag the audio that much)."""

    def __init__(self, units: Units, frame_shift_ms: float, decoder: str = "greedy", beam_size: int = 8,
                 lm=None, lm_weight: float = 1.0, word_score: float = 0.0, pause_seconds: float = PAUSE_SECONDS,
                 output_delay: int = 0):
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if lm is not None and decoder != "beam":
            raise ValueError("an LM needs decoder='beam'")
        self.lm = None
        if lm is not None:
            from asr_kd.lm import LMDecoder  # flashlight-text, loaded only when an LM is asked for

            self.lm = LMDecoder(units, lm, beam_size, lm_weight, word_score)
        self.units, self.decoder, self.beam_size, self.output_delay = units, decoder, beam_size, output_delay
        self.frame_seconds = FACTOR * frame_shift_ms / 1000
        self.pause_frames = round(pause_seconds / self.frame_seconds) if pause_seconds > 0 else 0

    def collapser(self) -> GreedyCollapser:
        """A fresh greedy CTC collapser with this decoder's pause handling."""
        space = self.units.ids.get(SPACE)
        return GreedyCollapser(0, space, self.pause_frames if space is not None else 0)

    def result(self, ids: list[int], frames: list[int] | None = None) -> Result:
        if frames is not None and self.output_delay:
            frames = [max(0, f - self.output_delay) for f in frames]
        return make_result(self.units, ids, frames, self.frame_seconds)

    def __call__(self, logits) -> Result:
        """(T', V) logits (anything np.asarray takes, on the CPU) -> Result."""
        if self.decoder == "greedy":
            c = self.collapser()
            c.push(np.asarray(logits).argmax(-1).tolist())
            return self.result(c.ids, c.frames)
        if self.lm is not None:
            return self.result(*self.lm(logits))
        log_probs = log_softmax(logits)  # (T', V)
        ids = beam_search_between_pauses(log_probs, self.beam_size, self.units.ids.get(SPACE), self.pause_frames)
        return self.result(ids, [span.start for span in align_token_spans(log_probs, ids)])
