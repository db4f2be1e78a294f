"""A Mozilla Common Voice release (one language) -> Kaldi data dir.

Input: CV_DIR/<split>.tsv (validated, train, dev, test, ...: tab-separated with a header holding at least
`client_id`, `path` and `sentence`) and the MP3 clips it names in CV_DIR/clips/. The speaker id is the
first 16 hex digits of `client_id`, the utterance id `<speaker>-<clip name without .mp3>`. Sentences are
normalised for character units: Unicode NFKC, upper case, every character that is not a letter, digit or
apostrophe becomes a space (numbers are not spelled out). MP3 is read by soundfile (libsndfile >= 1.1).
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
from pathlib import Path

import soundfile as sf

from asr_kd.data.audio import AudioError, audio_duration
from asr_kd.data.kaldi_dir import DataDirError, Utterance, write_data_dir
from data_prep import OneLineErrorParser, PrepError

COLUMNS = ("client_id", "path", "sentence")
MP3_LIBSNDFILE = (1, 1)  # first libsndfile that reads MP3


def normalise(sentence: str) -> str:
    """'Hello, world - it's 5!' -> "HELLO WORLD IT'S 5": upper case, letters/digits/apostrophes only."""
    text = unicodedata.normalize("NFKC", sentence).upper().replace("’", "'")
    return " ".join("".join(c if c.isalnum() or c == "'" else " " for c in text).split())


def check_mp3_support() -> None:
    """A one-line PrepError when this soundfile's libsndfile cannot read MP3."""
    version = tuple(int(v) for v in re.findall(r"\d+", sf.__libsndfile_version__)[:2])
    if version < MP3_LIBSNDFILE or "MP3" not in sf.available_formats():
        raise PrepError(f"Common Voice clips are MP3, which needs libsndfile >= 1.1 (this soundfile has "
                        f"{sf.__libsndfile_version__}): pip install -U soundfile (its wheels bundle a newer one)")


def read_rows(tsv: Path) -> list[dict[str, str]]:
    """The rows of a Common Voice TSV; a missing file or column is a PrepError naming it."""
    if not tsv.is_file():
        raise PrepError(f"{tsv}: not found (expected CV_DIR/<split>.tsv, e.g. validated.tsv)")
    with open(tsv, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PrepError(f"{tsv}: no column {missing[0]!r} in the header {reader.fieldnames}")
        return list(reader)


def prepare(cv_dir: str | Path, split: str, out_dir: str | Path, skip_bad: bool = False) -> dict:
    """Write the Kaldi data dir of one split; return counts, hours and what --skip-bad skipped."""
    cv_dir = Path(cv_dir).resolve()
    check_mp3_support()
    utts, durations, skipped = [], {}, {"missing_audio": 0, "unreadable": 0, "empty_sentence": 0}
    for n, row in enumerate(read_rows(cv_dir / f"{split}.tsv"), 2):
        clip, text = cv_dir / "clips" / row["path"], normalise(row["sentence"] or "")
        spk = row["client_id"][:16]
        problem = ("empty_sentence", f"{split}.tsv:{n}: empty sentence after normalisation") if not text else None
        if problem is None and not clip.is_file():
            problem = ("missing_audio", f"{clip}: clip named in {split}.tsv:{n} not found")
        if problem is None:
            try:
                durations[f"{spk}-{clip.stem}"] = audio_duration(str(clip))
            except AudioError as e:
                problem = ("unreadable", str(e))
        if problem is not None:
            if not skip_bad:
                raise PrepError(f"{problem[1]} (--skip-bad skips it)")
            skipped[problem[0]] += 1
            continue
        utts.append(Utterance(f"{spk}-{clip.stem}", spk, str(clip), None, None, text))
    if not utts:
        raise PrepError(f"{cv_dir / f'{split}.tsv'}: no usable clips")
    try:
        write_data_dir(out_dir, utts, durations)
    except DataDirError as e:
        raise PrepError(str(e)) from None
    return {"utterances": len(utts), "speakers": len({u.spk for u in utts}),
            "hours": sum(durations.values()) / 3600, **skipped}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m data_prep.common_voice",
        description="Turn one split of an extracted Common Voice release (one language: CV_DIR/<split>.tsv + "
                    "CV_DIR/clips/*.mp3) into a Kaldi data dir (wav.scp with absolute MP3 paths, text, "
                    "utt2spk, spk2utt, utt2dur). Speaker = the first 16 hex digits of client_id; sentences "
                    "upper-cased with everything but letters, digits and apostrophes turned into spaces.",
        epilog="example: python -m data_prep.common_voice --cv-dir /data/cv-corpus-17.0/en --split train "
               "--out data/cv_train")
    parser.add_argument("--cv-dir", type=Path, required=True, help="the language folder (with clips/ and the TSVs)")
    parser.add_argument("--split", default="validated", help="TSV name without .tsv (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="output Kaldi data directory")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip (and count) rows whose clip is missing or unreadable or whose sentence is "
                             "empty after normalisation, instead of stopping at the first one")
    args = parser.parse_args(argv)
    try:
        s = prepare(args.cv_dir, args.split, args.out, args.skip_bad)
    except (PrepError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {s['utterances']} utterances, {s['speakers']} speakers, {s['hours']:.2f} h; skipped "
          f"{s['missing_audio']} missing, {s['unreadable']} unreadable clips, {s['empty_sentence']} empty sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
