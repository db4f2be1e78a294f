"""LibriSpeech subset -> Kaldi data dir, as Kaldi's egs/librispeech/s5/local/data_prep.sh does it.

Input: CORPUS/<subset>/<reader>/<chapter>/<reader>-<chapter>-<n>.flac and, beside them,
<reader>-<chapter>.trans.txt with lines `<reader>-<chapter>-<n> TRANSCRIPT`; CORPUS/SPEAKERS.TXT
(optional) gives each reader's sex. Output: wav.scp (absolute flac paths, read directly),
text, utt2spk, spk2utt, utt2dur (from the flac headers) and spk2gender. As in Kaldi, the
speaker id is `<reader>-<chapter>`, a prefix of the utterance id.
"""

from __future__ import annotations

import sys
from pathlib import Path

from asr_kd.data.audio import AudioError, audio_duration
from asr_kd.data.kaldi_dir import DataDirError, Utterance, write_data_dir, write_table
from data_prep import OneLineErrorParser, PrepError


def _lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file; a decoding error names the file."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise PrepError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None


def read_genders(speakers_txt: Path) -> dict[str, str]:
    """SPEAKERS.TXT (`ID | SEX | SUBSET | MINUTES | NAME`, `;` comments) -> {reader: 'm' | 'f'}."""
    genders = {}
    for n, line in enumerate(_lines(speakers_txt), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 2 or fields[1].lower() not in ("m", "f"):
            raise PrepError(f"{speakers_txt}:{n}: expected `ID | SEX | ...` with SEX M or F")
        genders[fields[0]] = fields[1].lower()
    return genders


def read_transcripts(subset_dir: Path) -> dict[Path, tuple[str, str]]:
    """Every *.trans.txt line -> {flac path it names: (transcript, 'file:line')}."""
    transcripts = {}
    for trans in sorted(subset_dir.glob("*/*/*.trans.txt")):
        for n, line in enumerate(_lines(trans), 1):
            utt, _, text = line.strip().partition(" ")
            if utt:
                transcripts[trans.parent / f"{utt}.flac"] = (" ".join(text.split()), f"{trans}:{n}")
    return transcripts


def prepare(corpus_dir: str | Path, subset: str, out_dir: str | Path, skip_bad: bool = False) -> dict:
    """Write the Kaldi data dir of one subset; return counts, hours and what --skip-bad skipped."""
    corpus_dir = Path(corpus_dir).resolve()
    subset_dir = corpus_dir / subset
    if not subset_dir.is_dir():
        raise PrepError(f"{subset_dir}: subset directory not found (expected CORPUS/{subset}/<reader>/<chapter>/)")
    transcripts = read_transcripts(subset_dir)
    flacs = sorted(subset_dir.glob("*/*/*.flac"))
    missing_text = [f for f in flacs if f not in transcripts]
    missing_audio = [where for f, (_, where) in transcripts.items() if not f.is_file()]
    if not skip_bad and missing_text:
        f = missing_text[0]
        trans = f.parent / f"{f.parent.parent.name}-{f.parent.name}.trans.txt"
        raise PrepError(f"{f}: no transcript line for it in {trans} (--skip-bad skips it)")
    if not skip_bad and missing_audio:
        raise PrepError(f"{missing_audio[0]}: transcript line without a flac file (--skip-bad skips it)")
    utts, durations = [], {}
    try:
        for f in flacs:
            if f in transcripts:
                spk = f"{f.parent.parent.name}-{f.parent.name}"
                utts.append(Utterance(f.stem, spk, str(f), None, None, transcripts[f][0]))
                durations[f.stem] = audio_duration(str(f))
    except AudioError as e:
        raise PrepError(str(e)) from None
    if not utts:
        raise PrepError(f"{subset_dir}: no transcribed flac files found")
    reader = {u.spk: u.spk.split("-")[0] for u in utts}  # speaker id -> reader id
    speakers_txt = corpus_dir / "SPEAKERS.TXT"
    genders = read_genders(speakers_txt) if speakers_txt.is_file() else None
    if genders is not None:
        unknown = sorted(r for r in reader.values() if r not in genders)
        if unknown:
            raise PrepError(f"{speakers_txt}: no entry for reader {unknown[0]}")
    try:
        write_data_dir(out_dir, utts, durations)
    except DataDirError as e:
        raise PrepError(str(e)) from None
    if genders is not None:
        write_table(Path(out_dir) / "spk2gender", {s: genders[r] for s, r in reader.items()})
    return {"utterances": len(utts), "speakers": len(reader), "readers": len(set(reader.values())),
            "hours": sum(durations.values()) / 3600,
            "missing_transcript": len(missing_text), "missing_audio": len(missing_audio)}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m data_prep.librispeech",
        description="Turn one extracted LibriSpeech subset into a Kaldi data dir (wav.scp with absolute "
                    "flac paths, text, utt2spk, spk2utt, utt2dur, and spk2gender when CORPUS/SPEAKERS.TXT "
                    "exists). As in Kaldi's recipe the speaker id is <reader>-<chapter> and utterance ids "
                    "are <reader>-<chapter>-<n>; transcripts are kept as in the corpus (upper case).",
        epilog="example: python -m data_prep.librispeech --corpus /data/LibriSpeech "
               "--subset train-clean-100 --out data/train_clean_100")
    parser.add_argument("--corpus", type=Path, required=True,
                        help="the extracted LibriSpeech folder (holding SPEAKERS.TXT and the subset folders)")
    parser.add_argument("--subset", required=True,
                        help="subset folder name, e.g. train-clean-100, dev-clean, test-other")
    parser.add_argument("--out", type=Path, required=True, help="output Kaldi data directory")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip (and count) flac files without a transcript line and transcript lines "
                             "without a flac file instead of stopping at the first one")
    args = parser.parse_args(argv)
    try:
        s = prepare(args.corpus, args.subset, args.out, args.skip_bad)
    except (PrepError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {s['utterances']} utterances, {s['speakers']} speakers ({s['readers']} readers), "
          f"{s['hours']:.2f} h; skipped {s['missing_transcript']} flac files without transcript, "
          f"{s['missing_audio']} transcript lines without flac")
    return 0


if __name__ == "__main__":
    sys.exit(main())
