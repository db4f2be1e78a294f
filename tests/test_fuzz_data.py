"""Fuzzing: randomly corrupted copies of a small data dir. validate-data and compute-feats never raise,
validate-data rejects every mutation known to break a Kaldi rule, and what it accepts compute-feats can use."""

import random
import shutil
import traceback
from collections import Counter

from asr_kd.cli import main

SEED, COPIES = 1234, 300
TABLES = ("wav.scp", "utt2spk", "spk2utt", "text")


def _lines(b: bytes) -> list[bytes]:
    return b.split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


# Mutations of a table: (rng, its bytes, its name) -> (new bytes, whether that surely breaks a Kaldi rule).
def _swap_adjacent(rng, b, name):
    lines = _lines(b)
    i = rng.randrange(len(lines) - 1)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return _join(lines), True  # keys are sorted and unique: any swap breaks the order


def _shuffle(rng, b, name):
    lines = _lines(b)
    shuffled = lines[:]
    while shuffled == lines:
        rng.shuffle(shuffled)
    return _join(shuffled), True


def _drop_field(rng, b, name):
    lines = _lines(b)
    i = rng.randrange(len(lines))
    fields = lines[i].split(b" ")
    j = rng.randrange(len(fields))
    del fields[j]
    lines[i] = b" ".join(fields)
    return _join(lines), name != "text" or j == 0  # a transcript may lose words, even all of them


def _remove_line(rng, b, name):
    lines = _lines(b)
    del lines[rng.randrange(len(lines))]
    return _join(lines), True


def _duplicate_line(rng, b, name):
    lines = _lines(b)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return _join(lines), True


def _change_key(rng, b, name):
    lines = _lines(b)
    i = rng.randrange(len(lines))
    key, _, rest = lines[i].partition(b" ")
    lines[i] = key + rng.choice([b"x", b"-9", "é".encode()]) + b" " + rest
    return _join(lines), True


def _insert_cr(rng, b, name):
    lines = _lines(b)
    i = rng.randrange(len(lines))
    k = rng.randrange(len(lines[i]) + 1)
    lines[i] = lines[i][:k] + b"\r" + lines[i][k:]
    return _join(lines), True


def _cut_mid_line(rng, b, name):
    return b[: rng.choice([k for k in range(1, len(b)) if b[k - 1] != ord("\n")])], True


def _empty(rng, b, name):
    return b"", True


# Mutations of a 16-bit PCM WAV file (44-byte header).
def _flip_header_bits(rng, b, name):
    b = bytearray(b)
    for _ in range(rng.randint(1, 3)):
        b[rng.randrange(44)] ^= 1 << rng.randrange(8)
    return bytes(b), False  # may or may not still be usable


def _truncate(rng, b, name):
    return b[: rng.randrange(len(b))], True  # the header, or the data chunk it declares, is cut short


TABLE_MUTATIONS = [_swap_adjacent, _shuffle, _drop_field, _remove_line, _duplicate_line, _change_key, _insert_cr,
                   _cut_mid_line, _empty]
WAV_MUTATIONS = [_flip_header_bits, _truncate]


def _mutate(rng, d) -> tuple[list[str], bool]:
    """1-2 mutations of distinct files of data dir `d` -> (what was done, whether it surely breaks a rule)."""
    files = list(TABLES) + sorted(f"wav/{p.name}" for p in (d / "wav").iterdir())
    done, breaks = [], False
    for name in rng.sample(files, rng.randint(1, 2)):
        fn = rng.choice(WAV_MUTATIONS if name.startswith("wav/") else TABLE_MUTATIONS)
        data, broken = fn(rng, (d / name).read_bytes(), name)
        (d / name).write_bytes(data)
        done.append(f"{fn.__name__} {name}")
        breaks |= broken
    return done, breaks


def _run(argv: list[str]) -> int | str:
    """main's exit status, or the traceback of an exception that escaped it."""
    try:
        return main(argv)
    except Exception:
        return traceback.format_exc(limit=-3)


def test_corrupted_copies_never_crash_and_bad_ones_are_rejected(data_dir_factory, tmp_path, capsys):
    base = data_dir_factory(tmp_path / "base", {"spka-001": "HELLO WORLD", "spka-002": "GOOD MORNING",
                                                "spkb-001": "A", "spkb-002": "IT'S A TEST"}, seconds=0.2)
    rng = random.Random(SEED)
    failures, accepted, kinds = [], 0, Counter()
    for i in range(COPIES):
        d = tmp_path / f"copy{i}"
        shutil.copytree(base, d)
        (d / "wav.scp").write_text((d / "wav.scp").read_text().replace(str(base), str(d)))
        mutations, breaks = _mutate(rng, d)
        kinds.update(m.split()[0] for m in mutations)
        rc = _run(["validate-data", str(d)])
        runs = {"validate-data": rc, "compute-feats --skip-bad": _run(["compute-feats", "--skip-bad", str(d)])}
        if rc == 0:
            accepted += 1
            runs["compute-feats"] = _run(["compute-feats", str(d)])
            if runs["compute-feats"] != 0:
                failures.append(f"copy{i} {mutations}: validate-data accepted it, compute-feats failed")
            if breaks:
                failures.append(f"copy{i} {mutations}: validate-data accepted it, yet that breaks a Kaldi rule")
        failures += [f"copy{i} {mutations}: {cmd} raised\n{r}" for cmd, r in runs.items() if isinstance(r, str)]
        capsys.readouterr()
        shutil.rmtree(d)
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures[:30])
    assert set(kinds) == {fn.__name__ for fn in TABLE_MUTATIONS + WAV_MUTATIONS}, kinds
    assert 0 < accepted < COPIES // 2
