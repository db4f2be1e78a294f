"""Kaldi data-dir conformance in Python: the rules of utils/validate_data_dir.sh (validate) and
what utils/fix_data_dir.sh does (fix), plus audio that compute-feats would refuse (truncated, shorter
than one fbank window, segments past the end). Problems read `file:line: what is wrong`."""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import time
from pathlib import Path

import soundfile as sf

from asr_kd.config import FeatureConfig
from asr_kd.data.audio import MAX_OVERSHOOT_S, SAMPLE_RATE, AudioError, is_pipe
from asr_kd.data.kaldi_dir import DataDirError, kaldi_sorted, spk2utt_from_utt2spk, write_table

# Files keyed by utterance that must cover exactly the utterances of utt2spk when present.
UTT_FILES = ("text", "utt2dur", "feats.scp", "utt2lang", "utt2uniq")
KNOWN_FILES = ("wav.scp", "segments", "utt2spk", "spk2utt", "spk2gender", "reco2dur", "reco2file_and_channel") + UTT_FILES
FORBIDDEN_WORDS = ("<s>", "</s>", "#0")


def _read_lines(path: Path, problems: list[str]) -> list[tuple[int, str, str]]:
    """(line number, key, rest) per line; reports encoding, CR, termination and empty lines."""
    lines = path.read_bytes().split(b"\n")
    if lines[-1]:
        problems.append(f"{path}:{len(lines)}: last line is not newline-terminated")
    rows = []
    for n, line in enumerate(lines[:-1] if not lines[-1] else lines, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{path}:{n}: not valid UTF-8")
            continue
        if "\r" in text:
            problems.append(f"{path}:{n}: carriage return (CR) in line; convert with dos2unix")
            text = text.replace("\r", "")
        key, _, rest = text.strip().partition(" ")
        if not key:
            problems.append(f"{path}:{n}: empty line")
            continue
        rows.append((n, key, rest.strip()))
    return rows


def _check_sorted_unique(path: Path, rows, problems: list[str]) -> dict[str, tuple[int, str]]:
    """Keys must be unique and in C byte order; returns {key: (line, rest)} (first occurrence)."""
    table: dict[str, tuple[int, str]] = {}
    prev = None
    for n, key, rest in rows:
        if key in table:
            problems.append(f"{path}:{n}: duplicate key {key!r} (first on line {table[key][0]})")
            continue
        if prev is not None and key.encode() < prev.encode():
            problems.append(f"{path}:{n}: key {key!r} out of order (sort with LC_ALL=C)")
        table[key] = (n, rest)
        prev = key
    return table


def _coverage(name: Path, table: dict, reference: set[str], ref_name: str, problems: list[str]) -> None:
    for key, (n, _) in table.items():
        if key not in reference:
            problems.append(f"{name}:{n}: utterance {key!r} is not in {ref_name}")
    for key in kaldi_sorted(reference - table.keys()):
        problems.append(f"{name}: no entry for utterance {key!r} (listed in {ref_name})")


def validate_data_dir(root: str | Path, check_audio: bool = True, allow_pipes: bool = False) -> list[str]:
    """All Kaldi rule violations of data dir `root` (empty list = valid); `check_audio` opens every audio file."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    problems: list[str] = []
    for required in ("wav.scp", "utt2spk", "spk2utt"):
        if not (root / required).exists():
            problems.append(f"{root / required}: required file missing")
    if problems:
        return problems
    tables = {name: _check_sorted_unique(root / name, _read_lines(root / name, problems), problems)
              for name in KNOWN_FILES if (root / name).exists()}

    utt2spk = tables["utt2spk"]
    if not utt2spk:
        problems.append(f"{root / 'utt2spk'}: empty, no utterances")
    prev_spk = None
    for utt, (n, rest) in utt2spk.items():
        fields = rest.split()
        if len(fields) != 1:
            problems.append(f"{root / 'utt2spk'}:{n}: expected '<utt> <spk>', got {len(fields) + 1} fields")
            continue
        spk = fields[0]
        if not utt.startswith(spk):
            problems.append(f"{root / 'utt2spk'}:{n}: speaker id {spk!r} is not a prefix of utterance id {utt!r}")
        if prev_spk is not None and spk.encode() < prev_spk.encode():
            problems.append(f"{root / 'utt2spk'}:{n}: not sorted by speaker too (speaker {spk!r} after {prev_spk!r})")
        prev_spk = spk
    utts = set(utt2spk)
    expected = spk2utt_from_utt2spk({u: r.split()[0] for u, (_, r) in utt2spk.items() if r.split()})
    for spk, (n, rest) in tables["spk2utt"].items():
        if expected.get(spk) != rest:
            problems.append(f"{root / 'spk2utt'}:{n}: speaker {spk!r} does not match utt2spk (regenerate spk2utt)")
    for spk in kaldi_sorted(expected.keys() - tables["spk2utt"].keys()):
        problems.append(f"{root / 'spk2utt'}: speaker {spk!r} of utt2spk is missing")

    for spk, (n, rest) in tables.get("spk2gender", {}).items():
        if rest not in ("m", "f"):
            problems.append(f"{root / 'spk2gender'}:{n}: gender {rest!r} must be 'm' or 'f'")
        elif spk not in expected:
            problems.append(f"{root / 'spk2gender'}:{n}: speaker {spk!r} is not in utt2spk")
    for spk in kaldi_sorted(expected.keys() - tables.get("spk2gender", expected).keys()):
        problems.append(f"{root / 'spk2gender'}: no entry for speaker {spk!r}")
    for name in UTT_FILES:
        if name in tables:
            _coverage(root / name, tables[name], utts, "utt2spk", problems)
    for utt, (n, rest) in tables.get("text", {}).items():
        bad = sorted(set(rest.split()) & set(FORBIDDEN_WORDS))
        if bad:
            problems.append(f"{root / 'text'}:{n}: forbidden word(s) {bad} in transcript of {utt!r}")
    for utt, (n, rest) in tables.get("utt2dur", {}).items():
        try:
            ok = float(rest) > 0
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{root / 'utt2dur'}:{n}: duration {rest!r} is not a positive number")

    wav = tables["wav.scp"]
    spans = []  # (line, recording, start, end) of the well-formed segments
    if "segments" in tables:
        used = set()
        for utt, (n, rest) in tables["segments"].items():
            fields = rest.split()
            if len(fields) != 3:
                problems.append(f"{root / 'segments'}:{n}: expected '<utt> <reco> <start> <end>'")
                continue
            reco, start, end = fields
            used.add(reco)
            try:
                if 0 <= float(start) < float(end):
                    spans.append((n, reco, float(start), float(end)))
                else:
                    problems.append(f"{root / 'segments'}:{n}: end {end} must be greater than start {start} >= 0")
            except ValueError:
                problems.append(f"{root / 'segments'}:{n}: start/end are not numbers")
            if reco not in wav:
                problems.append(f"{root / 'segments'}:{n}: recording {reco!r} is not in wav.scp")
        for reco in kaldi_sorted(wav.keys() - used):
            problems.append(f"{root / 'wav.scp'}:{wav[reco][0]}: recording {reco!r} has no segment")
        _coverage(root / "segments", tables["segments"], utts, "utt2spk", problems)
    else:
        _coverage(root / "wav.scp", wav, utts, "utt2spk", problems)

    lengths = {}  # recording -> (frames, sample rate), for the audio files that are fine
    for reco, (n, rxfile) in wav.items():
        if not rxfile:
            problems.append(f"{root / 'wav.scp'}:{n}: expected '<recording> <rxfile>', no rxfile for {reco!r}")
        elif is_pipe(rxfile):
            if not allow_pipes:
                problems.append(f"{root / 'wav.scp'}:{n}: command pipe for {reco!r}; pipes run shell "
                                "commands, so they need --allow-pipes")
        elif check_audio:
            try:
                lengths[reco] = _audio_length(rxfile)
                if "segments" not in tables:
                    _check_length(*lengths[reco])
            except AudioError as e:
                problems.append(f"{root / 'wav.scp'}:{n}: {rxfile}: {e}")
    for n, reco, start, end in spans:
        if reco in lengths:
            try:
                _check_segment(start, end, *lengths[reco])
            except AudioError as e:
                problems.append(f"{root / 'segments'}:{n}: {e}")
    return problems


def _audio_length(path: str) -> tuple[int, int]:
    """(frames, sample rate) of audio file `path`; AudioError when it cannot be read or is cut short."""
    try:
        with sf.SoundFile(path) as f:
            frames, rate = f.frames, f.samplerate
            sizes = _wav_data_sizes(path)
            if sizes and sizes[0] > sizes[1]:
                raise AudioError("truncated: header declares {} bytes of samples, file holds {}".format(*sizes))
            if sizes is None and frames and f.seekable() and not _reads_last_frame(f):
                raise AudioError(f"truncated: header declares {frames} frames, the last one cannot be read")
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"cannot read audio ({e})") from None
    return frames, rate


def _check_length(frames: int, rate: int) -> None:
    """AudioError when `frames` samples at `rate` Hz give compute-feats no fbank frame."""
    window, frames = FeatureConfig().frame_length_ms, max(frames, 0)
    if round(frames * SAMPLE_RATE / rate) < SAMPLE_RATE * window / 1000:  # soxr's resampled length
        raise AudioError(f"{1000 * frames / rate:.1f} ms of audio is shorter than one {window:g} ms fbank window")


def _check_segment(start: float, end: float, frames: int, rate: int) -> None:
    """AudioError when compute-feats refuses segment [start, end) s of a recording of `frames` at `rate` Hz."""
    if end * rate > frames + MAX_OVERSHOOT_S * rate:
        raise AudioError(f"end {end:g} s is past the end of the recording ({frames / rate:.3f} s) "
                         f"by more than {MAX_OVERSHOOT_S:g} s")
    _check_length(min(round(end * rate), frames) - round(start * rate), rate)


def _reads_last_frame(f: sf.SoundFile) -> bool:
    """Whether the frame count of the header holds (formats whose chunk sizes we do not parse)."""
    try:
        f.seek(f.frames - 1)
        return len(f.read(1)) == 1
    except (sf.LibsndfileError, RuntimeError):
        return False


def _wav_data_sizes(path: str) -> tuple[int, int] | None:
    """(declared, held) bytes of the data chunk of a RIFF/WAVE file; None for other formats and for
    streamed WAVs, whose header cannot tell (data size 0 or 0xFFFFFFFF)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk, length = struct.unpack("<4sI", f.read(8))
            if chunk == b"data":
                return None if length in (0, 0xFFFFFFFF) else (length, size - pos - 8)
            pos += 8 + length + (length & 1)
    return None


def _lenient_table(path: Path, fields: int | None = None) -> dict[str, str]:
    """Readable lines of `path`, first occurrence of each key, lines with the wrong field count dropped."""
    table: dict[str, str] = {}
    for line in path.read_bytes().decode("utf-8").replace("\r", "").split("\n"):
        key, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if key and key not in table and (fields is None or len(rest.split()) == fields - 1):
            table[key] = rest
    return table


def _check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8, naming the first bad line: fixing must not guess encodings."""
    for n, line in enumerate(path.read_bytes().split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise DataDirError(f"{path}:{n}: not valid UTF-8; fix-data does not guess encodings "
                               "(convert with iconv first)") from None


def _new_backup_dir(root: Path) -> Path:
    """A fresh DIR/.backup/<time>[-N]/ (N counts runs within the same second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (root / ".backup").mkdir(exist_ok=True)
    for i in itertools.count(1):
        backup = root / ".backup" / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            backup.mkdir()
        except FileExistsError:
            continue
        return backup


def fix_data_dir(root: str | Path) -> dict:
    """Do what Kaldi's fix_data_dir.sh does: back up the originals to a new DIR/.backup/<time>/, then
    sort, de-duplicate, keep only utterances present in every file, and regenerate spk2utt.
    Files that are not UTF-8 are refused before anything is written.
    Returns {"kept": n, "removed": m, "backup": backup folder}."""
    root = Path(root)
    present = [name for name in KNOWN_FILES if (root / name).exists()]
    if "utt2spk" not in present or "wav.scp" not in present:
        raise FileNotFoundError(f"{root}: fixing needs at least wav.scp and utt2spk")
    for name in present:
        _check_utf8(root / name)
    backup = _new_backup_dir(root)
    for name in present:
        shutil.copy2(root / name, backup / name)

    utt2spk = _lenient_table(root / "utt2spk", fields=2)
    segments = _lenient_table(root / "segments", fields=4) if "segments" in present else None
    wav = _lenient_table(root / "wav.scp")
    utt_tables = {name: _lenient_table(root / name) for name in UTT_FILES if name in present}
    before = len(utt2spk)
    utts = set(utt2spk)
    for table in utt_tables.values():
        utts &= table.keys()
    if segments is not None:
        segments = {u: s for u, s in segments.items() if s.split()[0] in wav and _valid_span(s)}
        utts &= segments.keys()
        used = {segments[u].split()[0] for u in utts}
        write_table(root / "segments", {u: segments[u] for u in utts})
        write_table(root / "wav.scp", {r: p for r, p in wav.items() if r in used})
    else:
        utts &= wav.keys()
        write_table(root / "wav.scp", {u: wav[u] for u in utts})
    kept = {u: utt2spk[u] for u in utts}
    write_table(root / "utt2spk", kept)
    write_table(root / "spk2utt", spk2utt_from_utt2spk(kept))
    for name, table in utt_tables.items():
        write_table(root / name, {u: table[u] for u in utts})
    if "spk2gender" in present:
        spks = set(kept.values())
        write_table(root / "spk2gender", {s: g for s, g in _lenient_table(root / "spk2gender").items() if s in spks})
    return {"kept": len(utts), "removed": before - len(utts), "backup": backup}


def _valid_span(segment: str) -> bool:
    try:
        _, start, end = segment.split()
        return 0 <= float(start) < float(end)
    except ValueError:
        return False
