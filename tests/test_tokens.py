import pytest

from asr_kd.data.tokens import Units


def test_build_encode_decode(tmp_path):
    units = Units.build(["HELLO WORLD", "IT'S"])
    assert units.symbols[:3] == ["<blank>", "<unk>", "<space>"]
    ids = units.encode("HELLO IT'S")
    assert 0 not in ids and units.decode(ids) == "HELLO IT'S"
    assert units.encode("HQ") == [units.ids["H"], 1]  # Q unseen -> <unk>
    units.write(tmp_path / "units.txt")
    lines = (tmp_path / "units.txt").read_text().splitlines()
    assert lines[0] == "<blank> 0" and lines[1] == "<unk> 1" and lines[2] == "<space> 2"
    assert Units.read(tmp_path / "units.txt").symbols == units.symbols


def test_bad_units_file(tmp_path):
    (tmp_path / "u.txt").write_text("<blank> 0\nA 1\n")
    with pytest.raises(ValueError, match="must start with"):
        Units.read(tmp_path / "u.txt")
    (tmp_path / "u.txt").write_text("<blank> 0\n<unk> 2\n")
    with pytest.raises(ValueError, match="u.txt:2"):
        Units.read(tmp_path / "u.txt")


TEXTS = ["THE CAT SAT ON THE MAT", "A DOG RAN TO THE PARK", "SHE READ THE OLD BOOK 5"] * 20


def test_subword_units_encode_decode_and_words(tmp_path):
    units = Units.train_subwords(TEXTS, vocab_size=40)
    assert units.symbols[:2] == ["<blank>", "<unk>"] and units.model and "<space>" not in units.ids
    ids = units.encode("THE CAT READ 5")
    assert 0 not in ids and units.decode(ids) == "THE CAT READ 5"
    assert [units.decode(ids[a:b]) for a, b in units.word_spans(ids)] == ["THE", "CAT", "READ", "5"]
    assert units.ids["<unk>"] in units.encode("THE XQ")  # letters never seen -> <unk>
    assert units.boundary() == units.ids["\u2581"]
    units.write(tmp_path / "units.txt")
    assert (tmp_path / "units.model").read_bytes() == units.model
    again = Units.read(tmp_path / "units.txt")
    assert again.symbols == units.symbols and again.encode("THE OLD DOG") == units.encode("THE OLD DOG")
    meta = Units.from_meta(units.to_meta())
    assert meta.model == units.model and meta.decode(ids) == "THE CAT READ 5"
    chars = Units.build(TEXTS)
    assert Units.from_meta(chars.to_meta()).model is None and chars.to_meta()["units_model"] is None


def test_subword_word_spans_join_a_bare_marker_to_the_next_word():
    units = Units(["<blank>", "<unk>", "\u2581THE", "\u2581", "5", "AT", "\u2581C"], model=b"decoding reads no model")
    ids = [2, 3, 4, 6, 5]  # ▁THE ▁ 5 ▁C AT
    assert units.decode(ids) == "THE 5 CAT"
    assert units.word_spans(ids) == [(0, 1), (1, 3), (3, 5)]
    assert units.word_spans([3, 2]) == [(0, 2)]  # a leading bare ▁ starts the first word


def test_subword_model_must_match_its_symbols():
    units = Units.train_subwords(TEXTS, vocab_size=40)
    wrong = Units(units.symbols[:-1] + ["ZZZ"], units.model)
    with pytest.raises(ValueError, match="does not match"):
        wrong.encode("THE CAT")
