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
