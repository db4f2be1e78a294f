"""Each Kaldi rule: a fabricated data dir that breaks exactly that rule, the message and the exit code."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_kd.cli import main
from asr_kd.data.validate import validate_data_dir


def _edit(path: Path, fn) -> None:
    path.write_bytes(fn(path.read_bytes()))


def _swap_first_lines(b: bytes) -> bytes:
    lines = b.split(b"\n")
    lines[0], lines[1] = lines[1], lines[0]
    return b"\n".join(lines)


def test_valid_dir_passes(data_dir, capsys):
    assert validate_data_dir(data_dir) == []
    assert main(["validate-data", str(data_dir)]) == 0
    assert "OK" in capsys.readouterr().out


CASES = {
    "no trailing newline": ("text", lambda b: b.rstrip(b"\n"), r"text:6: last line is not newline-terminated"),
    "CR": ("text", lambda b: b.replace(b"HELLO WORLD\n", b"HELLO WORLD\r\n"), r"text:1: carriage return"),
    "not UTF-8": ("text", lambda b: b.replace(b"SPEECH", b"SP\xffECH"), r"text:5: not valid UTF-8"),
    "unsorted": ("text", _swap_first_lines, r"text:2: key 'spka-001' out of order"),
    "duplicate": ("utt2dur", None, r"utt2dur:2: duplicate key 'spka-001'"),
    "utt2spk fields": ("utt2spk", lambda b: b.replace(b"spka-001 spka", b"spka-001 spka extra"),
                       r"utt2spk:1: expected '<utt> <spk>', got 3 fields"),
    "speaker prefix": ("utt2spk", lambda b: b.replace(b"spkc-002 spkc", b"spkc-002 spkd"),
                       r"speaker id 'spkd' is not a prefix of utterance id 'spkc-002'"),
    "sorted by speaker": ("utt2spk", lambda b: b.replace(b"spkb-002 spkb", b"spkb-002 spka"),
                          r"utt2spk:4: not sorted by speaker too"),
    "spk2utt mismatch": ("spk2utt", lambda b: b.replace(b"spka spka-001 spka-002", b"spka spka-001"),
                         r"spk2utt:1: speaker 'spka' does not match utt2spk"),
    "text missing utt": ("text", lambda b: b.replace(b"spkb-001 IT'S A TEST\n", b""),
                         r"text: no entry for utterance 'spkb-001'"),
    "text extra utt": ("text", lambda b: b + b"spkz-001 EXTRA\n", r"text:7: utterance 'spkz-001' is not in utt2spk"),
    "forbidden word": ("text", lambda b: b.replace(b"HELLO WORLD", b"<s> HELLO WORLD </s>"),
                       r"text:1: forbidden word\(s\) \['</s>', '<s>'\]"),
    "wav.scp coverage": ("wav.scp", lambda b: b"\n".join(b.split(b"\n")[1:]),
                         r"wav.scp: no entry for utterance 'spka-001'"),
    "missing audio": ("wav.scp", lambda b: b.replace(b"spka-001.wav", b"gone.wav"), r"wav.scp:1: .*gone.wav"),
    "no rxfile": ("wav.scp", lambda b: re.sub(rb"(?m)^spka-002 .*$", b"spka-002", b),
                  r"wav.scp:2: expected '<recording> <rxfile>', no rxfile for 'spka-002'"),
    "pipe": ("wav.scp", lambda b: b.replace(b"spka-002 ", b"spka-002 sox x.flac -t wav - | #", 1).split(b"#")[0]
             + b"\n" + b"\n".join(b.split(b"\n")[2:]), r"wav.scp:2: command pipe .* need --allow-pipes"),
    "spk2gender": ("spk2gender", lambda b: b"spka m\nspkb x\n", r"spk2gender:2: gender 'x' must be 'm' or 'f'"),
    "spk2gender coverage": ("spk2gender", lambda b: b"spka m\nspkb f\n", r"spk2gender: no entry for speaker 'spkc'"),
    "bad duration": ("utt2dur", lambda b: b.replace(b"spkc-001 1.0", b"spkc-001 -3"),
                     r"utt2dur:5: duration '-3' is not a positive number"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule(case, data_dir, capsys):
    name, fn, expected = CASES[case]
    (data_dir / "utt2dur").write_text("".join(f"{u} 1.0\n" for u in sorted(
        line.split()[0] for line in (data_dir / "utt2spk").read_text().splitlines())))
    (data_dir / "spk2gender").write_text("spka m\nspkb f\nspkc f\n")
    if case == "duplicate":
        fn = lambda b: b.replace(b"spka-002 1.0\n", b"spka-001 1.0\nspka-002 1.0\n")  # noqa: E731
    _edit(data_dir / name, fn)
    problems = validate_data_dir(data_dir)
    assert any(re.search(expected, p) for p in problems), problems
    assert all(p.startswith(str(data_dir)) for p in problems)
    assert main(["validate-data", str(data_dir)]) == 1
    out = capsys.readouterr()
    assert re.search(expected, out.out) and "problem(s)" in out.err


def test_segments_rules(data_dir):
    reco = (data_dir / "wav.scp").read_text().splitlines()[0].split()[1]
    (data_dir / "wav.scp").write_text(f"rec1 {reco}\nrec2 {reco}\n")
    (data_dir / "utt2spk").write_text("spka-001 spka\nspka-002 spka\nspka-003 spka\n")
    (data_dir / "spk2utt").write_text("spka spka-001 spka-002 spka-003\n")
    (data_dir / "text").write_text("spka-001 A\nspka-002 B\nspka-003 C\n")
    (data_dir / "segments").write_text("spka-001 rec1 0.0 0.5\nspka-002 rec1 0.6 0.6\nspka-003 rec9 0.1\n")
    problems = "\n".join(validate_data_dir(data_dir))
    assert "segments:2: end 0.6 must be greater than start 0.6" in problems
    assert "segments:3: expected '<utt> <reco> <start> <end>'" in problems
    assert "wav.scp:2: recording 'rec2' has no segment" in problems
    (data_dir / "segments").write_text("spka-001 rec1 0.0 0.5\nspka-002 rec1 0.6 0.7\nspka-003 rec9 0.1 0.2\n")
    assert "segments:3: recording 'rec9' is not in wav.scp" in "\n".join(validate_data_dir(data_dir))


def test_segments_that_compute_feats_would_refuse(data_dir):
    reco = (data_dir / "wav.scp").read_text().splitlines()[0].split()[1]  # 1.0 s
    (data_dir / "wav.scp").write_text(f"rec1 {reco}\n")
    (data_dir / "utt2spk").write_text("spka-001 spka\nspka-002 spka\nspka-003 spka\n")
    (data_dir / "spk2utt").write_text("spka spka-001 spka-002 spka-003\n")
    (data_dir / "text").write_text("spka-001 A\nspka-002 B\nspka-003 C\n")
    (data_dir / "segments").write_text("spka-001 rec1 0.0 1.4\nspka-002 rec1 0.6 1e999\nspka-003 rec1 0.98 0.99\n")
    assert validate_data_dir(data_dir) == [  # spka-001 ends 0.4 s late: compute-feats cuts it, as Kaldi does
        f"{data_dir / 'segments'}:2: end inf s is past the end of the recording (1.000 s) by more than 0.5 s",
        f"{data_dir / 'segments'}:3: 10.0 ms of audio is shorter than one 25 ms fbank window"]
    assert validate_data_dir(data_dir, check_audio=False) == []

def test_no_audio_check_and_allow_pipes(data_dir):
    _edit(data_dir / "wav.scp", lambda b: b.replace(b"spka-001.wav", b"gone.wav"))
    assert validate_data_dir(data_dir, check_audio=False) == []
    assert main(["validate-data", "--no-audio-check", str(data_dir)]) == 0


def test_fixer_sorts_dedups_intersects_and_backs_up(data_dir, capsys):
    original_text = (data_dir / "text").read_bytes()
    _edit(data_dir / "text", lambda b: _swap_first_lines(b).replace(b"spkb-001 IT'S A TEST\n", b"") + b"spka-002 DUP\n")
    _edit(data_dir / "utt2spk", lambda b: b + b"spkz-009 spkz\n")
    (data_dir / "spk2utt").write_text("garbage\n")
    assert main(["fix-data", str(data_dir)]) == 0
    assert "kept 5 utterance(s), removed 2" in capsys.readouterr().out  # spkb-001 (no text), spkz-009 (no audio)
    assert validate_data_dir(data_dir) == []
    backups = list((data_dir / ".backup").iterdir())
    assert len(backups) == 1 and (backups[0] / "spk2utt").read_text() == "garbage\n"
    text = (data_dir / "text").read_text()
    assert "spkb-001" not in text and text.count("spka-002") == 1 and "GOOD MORNING" in text
    assert original_text != (data_dir / "text").read_bytes()


def test_our_writers_pass(data_dir, tmp_path):
    from asr_kd.data.kaldi_dir import Utterance, write_data_dir

    paths = {f"s1-{i}": line.split()[1] for i, line in enumerate((data_dir / "wav.scp").read_text().splitlines())}
    write_data_dir(tmp_path / "out", [Utterance(u, "s1", p, None, None, "T") for u, p in paths.items()],
                   {u: 1.0 for u in paths})
    assert validate_data_dir(tmp_path / "out") == []


def test_empty_files_are_not_a_data_dir(tmp_path, capsys):
    for name in ("wav.scp", "text", "utt2spk", "spk2utt"):
        (tmp_path / name).write_bytes(b"")
    assert f"{tmp_path / 'utt2spk'}: empty, no utterances" in validate_data_dir(tmp_path)
    assert main(["validate-data", str(tmp_path)]) == 1


def _one_wav_dir(data_dir: Path, audio: Path) -> None:
    (data_dir / "wav.scp").write_text(f"spka-001 {audio}\n")
    (data_dir / "utt2spk").write_text("spka-001 spka\n")
    (data_dir / "spk2utt").write_text("spka spka-001\n")
    (data_dir / "text").write_text("spka-001 HELLO\n")


def test_truncated_audio_is_rejected(data_dir, tmp_path, capsys):
    noise = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    wav, flac = tmp_path / "cut.wav", tmp_path / "cut.flac"
    for path in (wav, flac):
        sf.write(path, noise, 16000, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # header still says 1 s
    _one_wav_dir(data_dir, wav)
    problems = validate_data_dir(data_dir)
    assert problems == [f"{data_dir / 'wav.scp'}:1: {wav}: truncated: header declares 32000 bytes of samples, "
                        "file holds 15978"]
    assert main(["validate-data", str(data_dir)]) == 1 and problems[0] in capsys.readouterr().out
    assert validate_data_dir(data_dir, check_audio=False) == []
    _one_wav_dir(data_dir, flac)
    assert validate_data_dir(data_dir) == [f"{data_dir / 'wav.scp'}:1: {flac}: truncated: header declares 16000 "
                                           "frames, the last one cannot be read"]


def test_audio_shorter_than_one_fbank_window_is_rejected(data_dir, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(399, np.float32), 16000)
    _one_wav_dir(data_dir, short)
    assert validate_data_dir(data_dir) == [f"{data_dir / 'wav.scp'}:1: {short}: 24.9 ms of audio is shorter than "
                                           "one 25 ms fbank window"]
    sf.write(short, np.zeros(400, np.float32), 16000)
    assert validate_data_dir(data_dir) == []


def test_fixer_refuses_non_utf8_and_touches_nothing(data_dir, capsys):
    _edit(data_dir / "text", lambda b: b.replace(b"IT'S A TEST", b"IT\x92S A TEST"))  # cp1252 apostrophe
    _edit(data_dir / "utt2spk", _swap_first_lines)  # something to fix, were the text readable
    before = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}
    assert main(["fix-data", str(data_dir)]) == 1
    assert capsys.readouterr().err == (f"asr-kd fix-data: error: {data_dir / 'text'}:3: not valid UTF-8; "
                                       "fix-data does not guess encodings (convert with iconv first)\n")
    assert {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()} == before
    assert not (data_dir / ".backup").exists()


def test_fixer_runs_in_the_same_second_keep_every_backup(data_dir, capsys, monkeypatch):
    import asr_kd.data.validate as validate

    monkeypatch.setattr(validate.time, "strftime", lambda fmt: "20250101-120000")
    _edit(data_dir / "text", _swap_first_lines)
    originals = {name: (data_dir / name).read_bytes() for name in ("wav.scp", "text", "utt2spk", "spk2utt")}
    assert main(["fix-data", str(data_dir)]) == 0
    fixed = {name: (data_dir / name).read_bytes() for name in originals}
    assert main(["fix-data", str(data_dir)]) == 0
    first, second = data_dir / ".backup" / "20250101-120000", data_dir / ".backup" / "20250101-120000-2"
    assert sorted((data_dir / ".backup").iterdir()) == [first, second]
    assert {name: (first / name).read_bytes() for name in originals} == originals
    assert {name: (second / name).read_bytes() for name in originals} == fixed
    out = capsys.readouterr().out
    assert f"originals in {first}\n" in out and f"originals in {second}\n" in out
