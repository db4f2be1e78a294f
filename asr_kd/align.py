"""Word spans from CTC forced alignment (decoding.align_tokens), and splitting long utterances at
word gaps, so that each piece gets exactly its own words: no label lost or duplicated at a cut,
pieces short enough to train on."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asr_kd.data.tokens import Units
from asr_kd.decoding import align_tokens

FRAME_SECONDS = 0.04  # one output frame after x4 subsampling of 10 ms fbank frames


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # first output frame of its first token
    end: int  # one past the last frame of its last token


def align_words(logits: torch.Tensor, text: str, units: Units) -> list[Word]:
    """(T, V) CTC logits of one utterance and its transcript -> words with frame spans (Viterbi)."""
    spans = align_tokens(logits, units.encode(text))
    return [Word(units.decode([s.token for s in spans[a:b]]), spans[a].start, spans[b - 1].end)
            for a, b in units.word_spans([s.token for s in spans])]


def split_at_gaps(words: list[Word], num_frames: int, max_frames: int) -> list[tuple[int, int, str]]:
    """Cut [0, num_frames) into pieces of at most `max_frames` output frames, each cut in the middle
    of the gap between two words; returns (start_frame, end_frame, text). A single word longer than
    `max_frames` stays whole in its own piece."""
    pieces, start, current = [], 0, []
    for i, word in enumerate(words):
        if current and word.end - start > max_frames:
            cut = (current[-1].end + word.start) // 2
            pieces.append((start, cut, " ".join(w.text for w in current)))
            start, current = cut, []
        current.append(word)
    if current or not pieces:
        pieces.append((start, num_frames, " ".join(w.text for w in current)))
    else:
        pieces[-1] = (pieces[-1][0], num_frames, pieces[-1][2])
    return pieces


def split_long_utterances(data_dir, checkpoint_path, out_dir, max_seconds: float, device: str = "cpu") -> dict:
    """Write `out_dir`: `data_dir` with every utterance longer than `max_seconds` cut at word gaps
    found by forced alignment with `checkpoint_path` (pieces `<utt>-NNN`, a `segments` file into the
    original audio); shorter utterances are kept as they are. Returns counts."""
    from tqdm import tqdm

    from asr_kd.data.audio import audio_duration, load_utterance
    from asr_kd.data.kaldi_dir import Utterance, load_data_dir, write_data_dir
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(checkpoint_path, device=device)
    max_frames = int(max_seconds / FRAME_SECONDS)
    out, durations, split = [], {}, 0
    for u in tqdm(load_data_dir(data_dir), desc="split-long", unit="utt"):
        start = u.start or 0.0
        duration = (u.end - start) if u.end is not None else audio_duration(u.path) - start
        if duration <= max_seconds:
            out.append(Utterance(u.utt, u.spk, u.path, start, start + duration, u.text))
            durations[u.utt] = duration
            continue
        split += 1
        logits = rec.logits(rec.features(load_utterance(u)))  # (T', V), windowed: bounded memory
        pieces = split_at_gaps(align_words(logits, u.text, rec.units), logits.shape[0], max_frames)
        for k, (a, b, text) in enumerate(pieces):
            s = start + a * FRAME_SECONDS
            e = start + duration if k == len(pieces) - 1 else start + b * FRAME_SECONDS
            out.append(Utterance(f"{u.utt}-{k:03d}", u.spk, u.path, s, e, text))
            durations[out[-1].utt] = e - s
    write_data_dir(out_dir, out, durations)
    return {"utterances": len(out), "split": split}
