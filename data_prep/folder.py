"""A folder of audio files with same-named .txt transcripts -> Kaldi data dir.

Every audio file under DIR (recursive) is one utterance; `a/b c.wav` with `a/b c.txt` beside it
becomes utterance `<spk>-a-b_c`. Without transcripts (--allow-untranscribed) the dir has no
`text` file: the untranscribed pool that KD can learn from.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from asr_kd.data.audio import AudioError, audio_duration
from asr_kd.data.kaldi_dir import DataDirError, Utterance, write_data_dir
from data_prep import OneLineErrorParser, PrepError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SPEAKER_FROM = ("dir", "file", "none")


def safe_id(name: str) -> str:
    """Kaldi-safe id part: path separators -> '-', whitespace -> '_'."""
    return re.sub(r"\s", "_", name.replace("/", "-"))


def speaker_of(path: Path, rel_id: str, speaker_from: str) -> str:
    """Speaker id: parent folder name (dir), stem up to the first '-'/'_' (file) or the utterance (none)."""
    if speaker_from == "dir":
        return safe_id(path.parent.name)
    if speaker_from == "file":
        return safe_id(re.split(r"[-_]", path.stem, maxsplit=1)[0] or path.stem)
    return rel_id


def read_transcript(txt: Path) -> str:
    """UTF-8 transcript with whitespace collapsed, otherwise as written."""
    try:
        return " ".join(txt.read_text(encoding="utf-8").split())
    except UnicodeDecodeError as e:
        raise PrepError(f"{txt}: not UTF-8 ({e.reason} at byte {e.start})") from None


def prepare(audio_dir: str | Path, out_dir: str | Path, speaker_from: str = "dir",
            allow_untranscribed: bool = False) -> dict:
    """Write the Kaldi data dir of every audio file under `audio_dir`; return counts and hours."""
    audio_dir = Path(audio_dir).resolve()
    if not audio_dir.is_dir():
        raise PrepError(f"{audio_dir}: audio directory not found")
    files = sorted(p for p in audio_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    utts, durations, seen = [], {}, {}
    for path in files:
        rel_id = safe_id(path.relative_to(audio_dir).with_suffix("").as_posix())
        spk = speaker_of(path, rel_id, speaker_from)
        utt = rel_id if speaker_from == "none" else f"{spk}-{rel_id}"
        if utt in seen:
            raise PrepError(f"{path}: utterance id {utt} is also that of {seen[utt]}; rename one of them")
        seen[utt] = path
        txt = path.with_suffix(".txt")
        if txt.is_file():
            text = read_transcript(txt)
        elif allow_untranscribed:
            text = None
        else:
            raise PrepError(f"{path}: no transcript {txt.name} beside it (--allow-untranscribed accepts that)")
        utts.append(Utterance(utt, spk, str(path), None, None, text))
        try:
            durations[utt] = audio_duration(str(path))
        except AudioError as e:
            raise PrepError(str(e)) from None
    if not utts:
        raise PrepError(f"{audio_dir}: no {'/'.join(s[1:] for s in AUDIO_SUFFIXES)} files found")
    untranscribed = sum(u.text is None for u in utts)
    if untranscribed:  # one untranscribed file makes the whole dir the untranscribed pool
        utts = [Utterance(u.utt, u.spk, u.path) for u in utts]
    try:
        write_data_dir(out_dir, utts, durations)
    except DataDirError as e:
        raise PrepError(str(e)) from None
    if untranscribed:
        (Path(out_dir) / "text").unlink(missing_ok=True)  # a stale text from an earlier run would pair wrongly
    return {"utterances": len(utts), "speakers": len({u.spk for u in utts}),
            "hours": sum(durations.values()) / 3600, "untranscribed": untranscribed}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m data_prep.folder",
        description="Turn a folder of audio files (wav, flac, ogg, and mp3 where soundfile reads it; "
                    "searched recursively) into a Kaldi data dir. Each audio file needs a same-named .txt "
                    "transcript beside it (a/b.wav -> a/b.txt). Transcripts are read as UTF-8 with "
                    "whitespace collapsed and otherwise kept as written: normalise case, punctuation and "
                    "numbers yourself, to match the units you train on. The utterance id is the path "
                    "relative to --audio-dir with '/' -> '-' and whitespace -> '_', prefixed by the "
                    "speaker id.",
        epilog="example: python -m data_prep.folder --audio-dir recordings/ --out data/mine --speaker-from file")
    parser.add_argument("--audio-dir", type=Path, required=True, help="folder with the audio files")
    parser.add_argument("--out", type=Path, required=True, help="output Kaldi data directory")
    parser.add_argument("--speaker-from", choices=SPEAKER_FROM, default="dir",
                        help="speaker id: the audio file's parent folder name (dir), the file stem up to "
                             "the first '-' or '_' (file), or one speaker per utterance (none); default: %(default)s")
    parser.add_argument("--allow-untranscribed", action="store_true",
                        help="accept audio without a .txt; if any lacks one, the dir is written without a "
                             "text file (an untranscribed pool for KD)")
    args = parser.parse_args(argv)
    try:
        s = prepare(args.audio_dir, args.out, args.speaker_from, args.allow_untranscribed)
    except (PrepError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {s['utterances']} utterances, {s['speakers']} speakers, {s['hours']:.2f} h, "
          f"{s['untranscribed']} untranscribed" + (" (no text file written)" if s["untranscribed"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
