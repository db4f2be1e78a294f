#!/usr/bin/env python3
"""Copy Kaldi data dirs with their audio re-encoded as Ogg/Opus (~10-20 kb/s), with wav.scp paths relative
to the output folder: a small, portable corpus to ship to a remote (GPU) machine, e.g. for local/teacher_sweep.sh.
Lossy: features of the copy differ slightly from those of the original WAVs; say so next to its results."""

import argparse
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf

from asr_kd.data.kaldi_dir import read_table, write_table

TABLES = ("text", "utt2spk", "spk2utt", "utt2dur")


def encode(job: tuple[str, str, float]) -> None:
    """(source wav, target .opus, compression level 0..1) -> the .opus file (written whole, then renamed)."""
    src, dst, level = job
    samples, rate = sf.read(src, dtype="float32")
    tmp = Path(dst).with_suffix(".tmp")
    sf.write(tmp, samples, rate, format="OGG", subtype="OPUS", compression_level=level)
    tmp.rename(dst)


def copy_dir(src: Path, out: Path, root: Path, level: float, nj: int) -> None:
    """src data dir -> out (same tables; audio under root/audio/<set>/, wav.scp relative to root)."""
    audio = root / "audio" / src.name
    audio.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    scp, jobs = {}, []
    for utt, path in read_table(src / "wav.scp").items():
        dst = audio / f"{utt}.opus"
        scp[utt] = str(dst.relative_to(root))
        if not dst.exists():
            jobs.append((path, str(dst), level))
    with ProcessPoolExecutor(nj) as pool:
        list(pool.map(encode, jobs, chunksize=32))
    write_table(out / "wav.scp", scp)
    for name in TABLES:
        if (src / name).exists():
            shutil.copy(src / name, out / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output folder (data dirs + audio/)")
    parser.add_argument("--level", type=float, default=0.95, help="libsndfile Opus compression level, 0..1")
    parser.add_argument("--nj", type=int, default=2, help="parallel encoders")
    parser.add_argument("dirs", type=Path, nargs="+", help="Kaldi data dirs without segments")
    args = parser.parse_args()
    for src in args.dirs:
        copy_dir(src, args.out / src.name, args.out, args.level, args.nj)
        print(f"{src} -> {args.out / src.name}")


if __name__ == "__main__":
    main()
