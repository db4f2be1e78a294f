"""CTC search over model outputs. Greedy for now; beam and LM search extend this module.

Word boundaries at pauses: models trained on single utterances rarely emit `<space>` across a
silence between two utterances (they never saw one), so words on either side of a pause merge in
long-form decoding. With `pause_frames` > 0, a run of at least that many blank frames between
two tokens counts as a word boundary and a `space` is inserted there if the model emitted none."""

from __future__ import annotations

import torch


class GreedyCollapser:
    """Frame labels -> CTC token ids, incrementally (offline decoding and streaming share it):
    repeats merged, blanks dropped, and `space` inserted at pauses of >= `pause_frames` blanks."""

    def __init__(self, blank: int = 0, space: int | None = None, pause_frames: int = 0):
        if pause_frames and space is None:
            raise ValueError("pause_frames needs the id of the space symbol")
        self.blank, self.space, self.pause_frames = blank, space, pause_frames
        self.ids: list[int] = []
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
                if k != self.prev:
                    self.ids.append(k)
                self.blank_run = 0
            self.prev = k
        return self.ids


def greedy_decode(logits: torch.Tensor, lens: torch.Tensor, blank: int = 0, space: int | None = None,
                  pause_frames: int = 0) -> list[list[int]]:
    """(B, T, V) logits, (B,) frames -> per utterance the best path with repeats merged, blanks
    removed (and, with `pause_frames`, `space` inserted at pauses; see the module docstring)."""
    best = logits.argmax(-1).cpu()  # (B, T)
    return [GreedyCollapser(blank, space, pause_frames).push(path[:n].tolist()) for path, n in zip(best, lens.tolist())]
