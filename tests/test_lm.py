"""The ARPA writer gives a normalised backoff model; the LM decoder fixes what greedy gets wrong, puts
tokens at the frames greedy does, and decodes exactly as torchaudio's `ctc_decoder` does (its frames
one less than torchaudio's timesteps)."""

import math
from collections import defaultdict

import numpy as np
import pytest
import torch

from asr_kd.ctc_search import CtcDecoder, GreedyCollapser
from asr_kd.data.tokens import BLANK, SPACE, UNK, Units
from asr_kd.decoding import greedy_decode
from asr_kd.lm import BEAM_THRESHOLD, LMDecoder, arpa_words, write_arpa

SENTS = ["THE CAT SAT", "THE CAT RAN", "A DOG SAT", "THE DOG RAN", "A CAT SAT"]
MORE = SENTS + ["THE RAT ATE A HAT", "A BAT SAT ON THE MAT"]


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


def test_lm_decoder_frames_equal_greedy_frames(tmp_path):
    """Regression: frames were one output frame late (flashlight counts the start state as a step)."""
    write_arpa(SENTS, tmp_path / "lm.arpa")
    units = Units.build(SENTS)
    labels = [f for k in units.encode("A DOG SAT") for f in [0, 0, k]] + [0, 0]
    logits = np.full((len(labels), len(units)), -10.0, np.float32)  # (T, V): one spike per token, blanks between
    logits[np.arange(len(labels)), labels] = 0.0
    greedy = GreedyCollapser()
    greedy.push(logits.argmax(-1).tolist())
    assert greedy.frames[:3] == [2, 5, 8]
    assert LMDecoder(units, tmp_path / "lm.arpa", beam_size=8)(logits) == (greedy.ids, greedy.frames)


@pytest.mark.parametrize("search", [{"decoder": "greedy"}, {"decoder": "beam"}, {"decoder": "beam", "lm": True}])
def test_one_space_across_a_pause(tmp_path, search):
    """Regression: a pause spelled "<space> <blank> <space>" gave two spaces ("A  DOG") in the text, with
    every search (each keeps both space tokens; the text has one)."""
    write_arpa(SENTS, tmp_path / "lm.arpa")
    units = Units.build(SENTS)
    space = units.ids[SPACE]
    labels = []
    for k in units.encode("A DOG SAT"):
        labels += [k, 0] + ([space, 0, space, 0, space, 0] if k == space else [])
    logits = np.full((len(labels), len(units)), -10.0, np.float32)  # (T, V): every space spiked three times
    logits[np.arange(len(labels)), labels] = 0.0
    if search.get("lm"):
        search = {**search, "lm": tmp_path / "lm.arpa"}
    result = CtcDecoder(units, 10.0, pause_seconds=0, **search)(logits)
    assert result.tokens.count(SPACE) > 2 and result.text == "A DOG SAT"
    assert [w.text for w in result.words] == ["A", "DOG", "SAT"]


def _torchaudio_lm_decoder(units, arpa, beam_size, lm_weight, word_score):
    """What LMDecoder was before it called flashlight-text itself: torchaudio's `ctc_decoder` on the same
    lexicon, its tokens and timesteps with leading and trailing spaces dropped."""
    from torchaudio.models.decoder import ctc_decoder

    lexicon = arpa.parent / "lexicon.txt"
    lexicon.write_text("".join(f"{w}\t{' '.join(w)} {SPACE}\n" for w in arpa_words(arpa)
                               if all(c in units.ids for c in w)), encoding="utf-8")
    decoder = ctc_decoder(lexicon=str(lexicon), tokens=units.symbols, lm=str(arpa), beam_size=beam_size,
                          lm_weight=lm_weight, word_score=word_score, blank_token=BLANK, sil_token=SPACE,
                          unk_word=UNK, beam_threshold=BEAM_THRESHOLD)

    def decode(logits: np.ndarray) -> tuple[list[int], list[int]]:
        hyp = decoder(torch.from_numpy(logits).log_softmax(-1)[None].contiguous())[0][0]
        ids, frames = [], []
        for k, t in zip(hyp.tokens.tolist(), hyp.timesteps.tolist()):
            if k != units.ids[BLANK] and not (not ids and k == units.ids[SPACE]):
                ids.append(k)
                frames.append(t)
        while ids and ids[-1] == units.ids[SPACE]:
            ids.pop()
            frames.pop()
        return ids, frames

    return decode


def _logit_matrices(units, rng) -> list[np.ndarray]:
    """(T, V) float32 logits: random, peaked (CTC spikes spelling a sentence, with noise), and exact ties."""
    out = [rng.normal(0, 3, (t, len(units))).astype(np.float32) for t in (1, 5, 20, 60)]
    for sent in MORE:
        labels = [f for k in units.encode(sent) for f in [k] + [0] * int(rng.integers(1, 4))]
        x = rng.normal(0, 1, (len(labels), len(units))).astype(np.float32)
        x[np.arange(len(labels)), labels] += 8 + rng.normal(0, 2, len(labels)).astype(np.float32)
        out.append(x)
    ties = np.full((30, len(units)), -10, np.float32)
    ties[:, 0] = 0
    ties[::3, 3] = 0
    return out + [ties]


@pytest.mark.parametrize("beam_size, lm_weight, word_score", [(50, 1.0, 0.0), (5, 1.0, 0.0), (1, 2.0, -1.0),
                                                               (20, 0.5, 1.5), (100, 3.0, 0.0)])
def test_lm_decoder_equals_torchaudio_ctc_decoder(tmp_path, beam_size, lm_weight, word_score):
    write_arpa(MORE, tmp_path / "lm.arpa")
    units = Units.build(MORE)
    ours = LMDecoder(units, tmp_path / "lm.arpa", beam_size, lm_weight, word_score)
    theirs = _torchaudio_lm_decoder(units, tmp_path / "lm.arpa", beam_size, lm_weight, word_score)
    decoded = 0
    for logits in _logit_matrices(units, np.random.default_rng(0)):
        expected_ids, timesteps = theirs(logits)
        expected = expected_ids, [t - 1 for t in timesteps]
        assert ours(logits) == ours(torch.from_numpy(logits)) == expected
        decoded += len(expected[0])
    assert decoded > 0


def test_lm_decoder_with_subword_units(tmp_path):
    """Sentencepiece units: words spelled by their pieces (the first with the word-start ▁), the bare ▁
    piece as the silence; the result's words and their times come from the pieces."""
    from asr_kd.ctc_search import make_result
    from asr_kd.lm import spell_words

    write_arpa(MORE, tmp_path / "lm.arpa")
    units = Units.train_subwords(MORE * 10, vocab_size=40)
    assert all(pieces[0].startswith("\u2581") for _, pieces in spell_words(units, arpa_words(tmp_path / "lm.arpa")))
    ids = units.encode("THE CAT SAT")
    labels = [f for k in ids for f in [0, 0, k]] + [0, 0]
    logits = np.full((len(labels), len(units)), -10.0, np.float32)  # (T, V): one spike per piece
    logits[np.arange(len(labels)), labels] = 0.0
    out, frames = LMDecoder(units, tmp_path / "lm.arpa", beam_size=16)(logits)
    result = make_result(units, out, frames, 0.04)
    assert result.text == "THE CAT SAT" and [w.text for w in result.words] == ["THE", "CAT", "SAT"]


def test_make_lm_takes_kaldi_text_and_plain_corpus(tmp_path, capsys):
    from asr_kd.cli import main

    (tmp_path / "text").write_text("u1 THE CAT SAT\nu2 A DOG RAN\n", encoding="utf-8")
    (tmp_path / "corpus.txt").write_text("THE BAT ATE\n\nA RAT SAT\n", encoding="utf-8")
    assert main(["make-lm", "--text", str(tmp_path / "text"), "--corpus", str(tmp_path / "corpus.txt"),
                 "--out", str(tmp_path / "lm.arpa")]) == 0
    assert sorted(arpa_words(tmp_path / "lm.arpa")) == ["A", "ATE", "BAT", "CAT", "DOG", "RAN", "RAT", "SAT", "THE"]
    assert main(["make-lm", "--corpus", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "c.arpa")]) == 0
    assert sorted(arpa_words(tmp_path / "c.arpa")) == ["A", "ATE", "BAT", "RAT", "SAT", "THE"]
    assert main(["make-lm", "--out", str(tmp_path / "none.arpa")]) == 1
    assert "needs --text and/or --corpus" in capsys.readouterr().err
    assert not (tmp_path / "none.arpa").exists()
