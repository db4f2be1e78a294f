"""The ARPA writer gives a normalised backoff model; the LM decoder fixes what greedy gets wrong."""

import math
from collections import defaultdict

import pytest
import torch

from asr_kd.data.tokens import Units
from asr_kd.decoding import greedy_decode
from asr_kd.lm import LMDecoder, arpa_words, write_arpa

SENTS = ["THE CAT SAT", "THE CAT RAN", "A DOG SAT", "THE DOG RAN", "A CAT SAT"]


def _read_arpa(path):
    """{ngram tuple: (log10 p, log10 backoff)} from an ARPA file."""
    table, order = {}, 0
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.endswith("-grams:"):
            order = int(line[1])
            continue
        parts = line.split("\t")
        if order and len(parts) >= 2:
            table[tuple(parts[1].split())] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
    return table


def _logp(table, h, w):
    """log10 p(w | h) with ARPA backoff."""
    if h + (w,) in table:
        return table[h + (w,)][0]
    return (table[h][1] if h in table else 0.0) + _logp(table, h[1:], w)


def test_arpa_is_a_normalised_backoff_model(tmp_path):
    sizes = write_arpa(SENTS, tmp_path / "lm.arpa", order=3)
    table = _read_arpa(tmp_path / "lm.arpa")
    assert sizes[1] == len([g for g in table if len(g) == 1])
    vocab = [g[0] for g in table if len(g) == 1 and g[0] != "<s>"]
    contexts = defaultdict(set)
    for g in table:
        if len(g) > 1:
            contexts[g[:-1]].add(g[-1])
    for h in [(), ("<s>",), ("THE",), ("<s>", "THE"), ("THE", "CAT"), ("DOG",), ("SAT",)]:
        assert sum(10 ** _logp(table, h, w) for w in vocab) == pytest.approx(1.0, abs=1e-4), h
    assert _logp(table, ("THE",), "CAT") > _logp(table, ("THE",), "DOG") > _logp(table, ("THE",), "SAT")
    assert sorted(arpa_words(tmp_path / "lm.arpa")) == ["A", "CAT", "DOG", "RAN", "SAT", "THE"]
    assert math.isfinite(_logp(table, ("A", "DOG"), "<unk>"))


def test_lm_decoder_fixes_a_spelling_greedy_gets_wrong(tmp_path):
    write_arpa(SENTS, tmp_path / "lm.arpa")
    units = Units.build(SENTS)
    ids = units.encode("THE CAT SAT")
    probs = torch.full((3 * len(ids), len(units)), 1e-4)
    for i, k in enumerate(ids):
        probs[3 * i, k] = 1.0
        probs[3 * i + 1 : 3 * i + 3, 0] = 1.0
    t_of_cat = 3 * 6  # the T of CAT: acoustically more like R ("CAR" is no word here)
    probs[t_of_cat, units.ids["T"]], probs[t_of_cat, units.ids["R"]] = 0.4, 0.6
    logits = probs.log()
    assert units.decode(greedy_decode(logits[None], torch.tensor([len(logits)]))[0]) == "THE CAR SAT"
    out, frames = LMDecoder(units, tmp_path / "lm.arpa", beam_size=20)(logits)
    assert units.decode(out) == "THE CAT SAT" and len(frames) == len(out)
