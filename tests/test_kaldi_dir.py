import pytest

from asr_kd.data.kaldi_dir import (
    DataDirError,
    kaldi_sorted,
    load_data_dir,
    read_table,
    write_table,
)


def test_write_table_sorts_in_c_order(tmp_path):
    write_table(tmp_path / "t", {"b": "2", "B": "1", "a-1": "x", "a_1": "y"})
    assert (tmp_path / "t").read_text() == "B 1\na-1 x\na_1 y\nb 2\n"
    assert read_table(tmp_path / "t") == {"B": "1", "a-1": "x", "a_1": "y", "b": "2"}
    assert kaldi_sorted(["é", "z"]) == ["z", "é"]


def test_duplicate_key_and_bad_utf8_name_the_line(tmp_path):
    (tmp_path / "t").write_text("a 1\nb 2\na 3\n")
    with pytest.raises(DataDirError, match=r"t:3: duplicate key 'a'"):
        read_table(tmp_path / "t")
    (tmp_path / "u").write_bytes(b"a \xff\n")
    with pytest.raises(DataDirError, match="not UTF-8"):
        read_table(tmp_path / "u")


def test_load_data_dir(data_dir):
    utts = load_data_dir(data_dir)
    assert [u.utt for u in utts] == sorted(u.utt for u in utts)
    assert utts[0].spk == "spka" and utts[0].text == "HELLO WORLD" and utts[0].start is None


def test_segments_and_missing_text(data_dir):
    reco = (data_dir / "wav.scp").read_text().splitlines()[0].split()[1]
    (data_dir / "wav.scp").write_text(f"rec1 {reco}\n")
    (data_dir / "segments").write_text("spka-001 rec1 0.00 0.50\nspka-002 rec1 0.50 1.00\n")
    (data_dir / "utt2spk").write_text("spka-001 spka\nspka-002 spka\n")
    utts = load_data_dir(data_dir)
    assert [(u.utt, u.start, u.end) for u in utts] == [("spka-001", 0.0, 0.5), ("spka-002", 0.5, 1.0)]
    (data_dir / "text").write_text("spka-001 HELLO\n")
    with pytest.raises(DataDirError, match="no transcript for utterance 'spka-002'"):
        load_data_dir(data_dir)


def test_pipes_are_refused(data_dir):
    (data_dir / "wav.scp").write_text("spka-001 sox a.flac -t wav - |\n")
    (data_dir / "utt2spk").write_text("spka-001 spka\n")
    with pytest.raises(DataDirError, match="pipe"):
        load_data_dir(data_dir)


def test_write_data_dir_round_trip(tmp_path):
    from asr_kd.data.kaldi_dir import Utterance, write_data_dir

    utts = [Utterance("s1-b", "s1", "/x/rec1.wav", 1.0, 2.0, "B"), Utterance("s1-a", "s1", "/x/rec1.wav", 0.0, 1.0, "A"),
            Utterance("s2-a", "s2", "/x/rec2.wav", 0.5, 1.5, "C")]
    write_data_dir(tmp_path, utts, {"s1-a": 1.0, "s1-b": 1.0, "s2-a": 1.0})
    assert (tmp_path / "wav.scp").read_text() == "rec1 /x/rec1.wav\nrec2 /x/rec2.wav\n"
    assert (tmp_path / "segments").read_text().splitlines()[0] == "s1-a rec1 0.000 1.000"
    assert (tmp_path / "spk2utt").read_text() == "s1 s1-a s1-b\ns2 s2-a\n"
    assert load_data_dir(tmp_path) == sorted(utts, key=lambda u: u.utt)
    with pytest.raises(DataDirError, match="prefix"):
        write_data_dir(tmp_path / "bad", [Utterance("x-1", "y", "/a.wav")])
