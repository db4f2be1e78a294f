"""Read and write Kaldi data directories (wav.scp, text, utt2spk, spk2utt, segments, utt2dur)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asr_kd.fileio import write_text


class DataDirError(ValueError):
    """A data directory violates the Kaldi contract; the message names file and line."""


def read_table(path: str | Path) -> dict[str, str]:
    """Read a Kaldi keyed file (`<key> <value...>`) into an ordered dict; duplicate keys are errors."""
    path = Path(path)
    table: dict[str, str] = {}
    try:
        lines = path.read_bytes().decode("utf-8").split("\n")
    except FileNotFoundError:
        raise DataDirError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise DataDirError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        key, _, value = line.strip().partition(" ")
        if not key:
            raise DataDirError(f"{path}:{n}: empty line")
        if key in table:
            raise DataDirError(f"{path}:{n}: duplicate key {key!r}")
        table[key] = value.strip()
    return table


def kaldi_sorted(keys) -> list[str]:
    """Sort as `LC_ALL=C sort` does: by UTF-8 bytes."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def write_table(path: str | Path, table: dict[str, str]) -> None:
    """Write a keyed file sorted in C byte order, atomically."""
    write_text(path, "".join(f"{k} {table[k]}\n" for k in kaldi_sorted(table)))


def spk2utt_from_utt2spk(utt2spk: dict[str, str]) -> dict[str, str]:
    spk2utt: dict[str, list[str]] = {}
    for utt in kaldi_sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return {spk: " ".join(utts) for spk, utts in spk2utt.items()}


@dataclass(frozen=True)
class Utterance:
    """One utterance: where its audio is and what was said (text None when untranscribed)."""

    utt: str
    spk: str
    path: str
    start: float | None = None  # seconds into the recording (segments), None = whole file
    end: float | None = None
    text: str | None = None


def _segment_span(start: str, end: str, path: Path, utt: str) -> tuple[float, float]:
    """A segment's (start, end) seconds: finite numbers with 0 <= start < end, else a DataDirError."""
    try:
        a, b = float(start), float(end)
    except ValueError:
        raise DataDirError(f"{path}: utterance {utt!r}: start/end {start!r} {end!r} are not numbers") from None
    if not (0 <= a < b < float("inf")):
        raise DataDirError(f"{path}: utterance {utt!r}: need 0 <= start < end (finite seconds), got {start} {end}")
    return a, b


def load_data_dir(root: str | Path, require_text: bool = True, allow_pipes: bool = False) -> list[Utterance]:
    """Load the utterances of a Kaldi data directory, in sorted utterance order. `<cmd> |` wav.scp
    entries run shell commands, so they are refused unless `allow_pipes`."""
    root = Path(root)
    if not root.is_dir():
        raise DataDirError(f"{root}: not a directory")
    wav_scp = read_table(root / "wav.scp")
    utt2spk = read_table(root / "utt2spk")
    text = read_table(root / "text") if (require_text or (root / "text").exists()) else {}
    segments = read_table(root / "segments") if (root / "segments").exists() else None
    for reco, rxfile in wav_scp.items():
        if rxfile.rstrip().endswith("|") and not allow_pipes:
            raise DataDirError(
                f"{root / 'wav.scp'}: {reco!r} is a command pipe ({rxfile!r}); pipes run shell commands, "
                "so they need --allow-pipes"
            )
    utts = []
    for utt in kaldi_sorted(utt2spk):
        if segments is not None:
            fields = segments.get(utt, "").split()
            if len(fields) != 3:
                raise DataDirError(f"{root / 'segments'}: utterance {utt!r} missing or malformed")
            reco, start, end = fields[0], *_segment_span(fields[1], fields[2], root / "segments", utt)
        else:
            reco, start, end = utt, None, None
        if reco not in wav_scp:
            raise DataDirError(f"{root / 'wav.scp'}: no entry for recording {reco!r} (utterance {utt!r})")
        if require_text and utt not in text:
            raise DataDirError(f"{root / 'text'}: no transcript for utterance {utt!r}")
        utts.append(Utterance(utt, utt2spk[utt], wav_scp[reco], start, end, text.get(utt)))
    if not utts:
        raise DataDirError(f"{root}: no utterances")
    return utts


def write_data_dir(root: str | Path, utts: list[Utterance], durations: dict[str, float] | None = None) -> None:
    """Write a Kaldi data dir for `utts`: wav.scp, utt2spk, spk2utt, text (when transcribed),
    segments (when any utterance has start/end), and utt2dur (when `durations` is given).
    With segments, each distinct `Utterance.path` is one recording, named by its file stem."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    utt2spk = {u.utt: u.spk for u in utts}
    if len(utt2spk) != len(utts):
        raise DataDirError(f"{root}: duplicate utterance ids")
    for u in utts:
        if not u.utt.startswith(u.spk):
            raise DataDirError(f"{root}: speaker id {u.spk!r} is not a prefix of utterance id {u.utt!r}")
    segmented = any(u.start is not None for u in utts)
    if segmented:
        recos = {u.path: Path(u.path).stem for u in utts}
        if len(set(recos.values())) != len(recos):
            raise DataDirError(f"{root}: recording file stems are not unique")
        write_table(root / "wav.scp", {reco: path for path, reco in recos.items()})
        write_table(root / "segments", {u.utt: f"{recos[u.path]} {u.start:.3f} {u.end:.3f}" for u in utts})
    else:
        write_table(root / "wav.scp", {u.utt: u.path for u in utts})
    write_table(root / "utt2spk", utt2spk)
    write_table(root / "spk2utt", spk2utt_from_utt2spk(utt2spk))
    if any(u.text is not None for u in utts):
        write_table(root / "text", {u.utt: u.text or "" for u in utts})
    if durations is not None:
        write_table(root / "utt2dur", {u: f"{d:.3f}" for u, d in durations.items()})


def load_recordings(root: str | Path, allow_pipes: bool = False) -> list[Utterance]:
    """Whole recordings of a segmented data dir as utterances (id = recording id), with the reference
    text of each recording from `reco2text`; for long-form decoding of `test_long`."""
    root = Path(root)
    segments = load_data_dir(root, allow_pipes=allow_pipes)
    reco_of = {utt: fields.split()[0] for utt, fields in read_table(root / "segments").items()}
    reco2text = read_table(root / "reco2text")
    paths = read_table(root / "wav.scp")
    spk = {reco_of[u.utt]: u.spk for u in segments}
    missing = sorted(set(paths) - set(reco2text))
    if missing:
        raise DataDirError(f"{root / 'reco2text'}: no reference for recording {missing[0]!r}")
    return [Utterance(reco, spk.get(reco, reco), paths[reco], None, None, reco2text[reco]) for reco in kaldi_sorted(paths)]


def combine_data_dirs(out: str | Path, sources: list[str | Path]) -> int:
    """Kaldi's combine_data.sh: the union of the sources' utterances (ids must not clash), with
    utt2dur carried over where present; returns the number of utterances."""
    utts, durations = [], {}
    for src in sources:
        src = Path(src)
        utts += load_data_dir(src, require_text=False)
        if (src / "utt2dur").exists():
            durations.update({u: float(d) for u, d in read_table(src / "utt2dur").items()})
    seen: set[str] = set()
    for u in utts:
        if u.utt in seen:
            raise DataDirError(f"utterance id {u.utt!r} occurs in more than one of {[str(s) for s in sources]}")
        seen.add(u.utt)
    if any(u.text is not None for u in utts) and any(u.text is None for u in utts):
        raise DataDirError("some sources have transcripts and some do not; pseudo-label the untranscribed ones first")
    if any(u.start is not None for u in utts):
        from asr_kd.data.audio import audio_duration

        utts = [u if u.start is not None else Utterance(u.utt, u.spk, u.path, 0.0, audio_duration(u.path), u.text)
                for u in utts]
    write_data_dir(out, utts, durations if len(durations) == len(utts) else None)
    return len(utts)
