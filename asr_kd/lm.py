"""Word n-gram language models for CTC beam search: an ARPA writer (interpolated absolute
discounting, with the backoff weights ARPA needs) and a decoder that runs flashlight-text's lexicon
beam search with that ARPA file (KenLM) and a lexicon spelled in our units; numpy only, no torch.
KenLM's own `lmplz` is not on PyPI, hence the writer."""

from __future__ import annotations

import math
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from asr_kd.ctc_search import log_softmax
from asr_kd.data.tokens import BLANK, SPACE, UNK, WORD, Units
from asr_kd.fileio import write_text

BEAM_THRESHOLD = 15.0  # drop hypotheses this far below the best score; torchaudio's 50 searched 2-4x longer for the same
                       # dev WER, and at equal time a wider beam with 15 did better (local/lm_beam_sweep.py, RESULTS.md)

BOS, EOS, LM_UNK = "<s>", "</s>", "<unk>"


def ngram_counts(sentences, order: int) -> list[Counter]:
    """counts[k][(w1..wk)] over sentences padded with <s> ... </s> (k = 1..order; <s> never predicted)."""
    counts = [Counter() for _ in range(order + 1)]
    for s in sentences:
        words = [BOS] + s.split() + [EOS]
        for k in range(1, order + 1):
            for i in range(len(words) - k + 1):
                if not (k == 1 and words[i] == BOS):
                    counts[k][tuple(words[i : i + k])] += 1
    return counts


def write_arpa(sentences, path: str | Path, order: int = 3, discount: float = 0.75) -> dict:
    """Train an interpolated absolute-discounting n-gram model on `sentences` and write it as ARPA:
    p(w|h) = (c(h,w) - D) / c(h) + D * N1+(h) / c(h) * p(w|h'), unigrams interpolated with uniform
    over the vocabulary (+ <unk>). Returns the number of n-grams per order."""
    counts = ngram_counts(sentences, order)
    total, types = [defaultdict(int) for _ in range(order + 1)], [defaultdict(int) for _ in range(order + 1)]
    children = [defaultdict(list) for _ in range(order + 1)]
    for k in range(2, order + 1):
        for g, c in counts[k].items():
            total[k][g[:-1]] += c
            types[k][g[:-1]] += 1
            children[k][g[:-1]].append(g)
    vocab = sorted({g[0] for g in counts[1]} | {LM_UNK})
    n = sum(counts[1].values())
    prob = {(w,): max(counts[1][(w,)] - discount, 0) / n + discount * len(counts[1]) / n / len(vocab) for w in vocab}
    for k in range(2, order + 1):
        for g, c in counts[k].items():
            h = g[:-1]
            prob[g] = (c - discount) / total[k][h] + discount * types[k][h] / total[k][h] * prob[g[1:]]

    def backoff(h: tuple) -> float | None:
        kids = children[len(h) + 1].get(h) if len(h) < order else None
        if not kids:
            return None
        left = 1.0 - sum(prob[g] for g in kids)
        lower = 1.0 - sum(prob[g[1:]] for g in kids)
        return math.log10(max(left, 1e-12) / max(lower, 1e-12))

    sizes = {1: len(vocab) + 1, **{k: len(counts[k]) for k in range(2, order + 1)}}
    lines = ["", "\\data\\"] + [f"ngram {k}={sizes[k]}" for k in range(1, order + 1)]
    for k in range(1, order + 1):
        lines += ["", f"\\{k}-grams:"]
        grams = [(w,) for w in vocab] if k == 1 else sorted(counts[k])
        if k == 1:
            bo = backoff((BOS,))
            lines.append(f"-99\t{BOS}" + (f"\t{bo:.6f}" if bo is not None else ""))
        for g in grams:
            bo = backoff(g)
            lines.append(f"{math.log10(prob[g]):.6f}\t{' '.join(g)}" + (f"\t{bo:.6f}" if bo is not None else ""))
    lines += ["", "\\end\\", ""]
    write_text(path, "\n".join(lines))
    return sizes


def arpa_words(path: str | Path) -> list[str]:
    """The unigram words of an ARPA file (without <s>, </s>, <unk>)."""
    words, in_unigrams = [], False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("\\"):
            in_unigrams = line == "\\1-grams:"
            continue
        parts = line.split("\t")
        if in_unigrams and len(parts) >= 2 and parts[1] not in (BOS, EOS, LM_UNK):
            words.append(parts[1])
    return words


def spell_words(units: Units, words) -> list[tuple[str, list[str]]]:
    """(word, unit symbols) for each word the units can spell: characters followed by `<space>`, or the
    word's sentencepiece pieces (the first carries the word-start `▁`)."""
    if units.model is None:
        return [(w, [*w, SPACE]) for w in words if all(c in units.ids for c in w)]
    unk = units.ids[UNK]
    return [(w, [units.symbols[i] for i in ids]) for w in words if unk not in (ids := units.encode(w))]


class LMDecoder:
    """CTC beam search with a word n-gram LM: flashlight-text's lexicon decoder with KenLM, built as
    torchaudio's `ctc_decoder` builds it (same tokens, no torch; frames one less than its timesteps,
    which count the start state as a step). Words are spelled in the model's units (`spell_words`); the word
    boundary unit (`<space>`, or the bare `▁` piece of subwords) is the decoder's silence."""

    def __init__(self, units: Units, arpa: str | Path, beam_size: int = 50, lm_weight: float = 1.0,
                 word_score: float = 0.0, beam_threshold: float = BEAM_THRESHOLD):
        try:
            from flashlight.lib.text.decoder import (
                CriterionType,
                LexiconDecoder,
                LexiconDecoderOptions,
                SmearingMode,
                Trie,
            )
            from flashlight.lib.text.decoder.kenlm import KenLM
            from flashlight.lib.text.dictionary import create_word_dict, load_words
        except ImportError as e:  # flashlight-text missing, or built without KenLM
            raise RuntimeError(f"LM decoding needs the flashlight-text package ({e})") from None
        space = units.boundary()
        if space is None:
            raise ValueError(f"LM decoding needs a word boundary unit ({SPACE} or {WORD}) in the units")
        with tempfile.TemporaryDirectory() as tmp:  # read back by load_words: its map order gives the word ids
            path = Path(tmp) / "lexicon"
            path.write_text("".join(f"{w}\t{' '.join(s)}\n" for w, s in spell_words(units, arpa_words(arpa))),
                            encoding="utf-8")
            lexicon = load_words(str(path))  # word -> spellings (lists of unit symbols); adds <unk>
        words = create_word_dict(lexicon)
        self.lm = KenLM(str(arpa), words)  # held here: the decoder does not keep it alive
        self.units, self.blank = units, units.ids[BLANK]
        trie = Trie(len(units), space)
        start = self.lm.start(False)
        for word, spellings in lexicon.items():
            word_id = words.get_index(word)
            _, score = self.lm.score(start, word_id)  # unigram score, smeared over the word's prefixes
            for spelling in spellings:
                trie.insert([units.ids[sym] for sym in spelling], word_id, score)
        trie.smear(SmearingMode.MAX)
        options = LexiconDecoderOptions(beam_size=beam_size, beam_size_token=len(units),
                                        beam_threshold=beam_threshold,
                                        lm_weight=lm_weight, word_score=word_score, unk_score=-math.inf,
                                        sil_score=0, log_add=False, criterion_type=CriterionType.CTC)
        self.decoder = LexiconDecoder(options, trie, self.lm, space, self.blank, words.get_index(UNK),
                                      [], False)  # no token transitions; a word-level LM

    def __call__(self, logits) -> tuple[list[int], list[int]]:
        """(T', V) logits (anything np.asarray takes, e.g. a CPU tensor) -> (token ids incl. word-final
        <space>s, the frame of each)."""
        log_probs = np.ascontiguousarray(log_softmax(logits))  # (T', V) float32, read by pointer
        # the best: a label per step; step 0 is the start state before the first frame, so step t is frame t - 1
        path = self.decoder.decode(log_probs.ctypes.data, *log_probs.shape)[0].tokens
        space, ids, frames = self.units.boundary(), [], []
        for t, k in enumerate(path):  # repeats merged, blanks and leading spaces dropped
            if k != self.blank and (t == 0 or k != path[t - 1]) and (ids or k != space):
                ids.append(k)
                frames.append(max(t - 1, 0))
        while ids and ids[-1] == space:
            ids.pop()
            frames.pop()
        return ids, frames
