"""`asr-kd-edge <subcommand>`: the torch-free runtime from the command line; bad input ends in one line."""

from __future__ import annotations

import argparse
import sys

import soundfile as sf


def _recognizer(a):
    from asr_kd.edge.recognizer import EdgeRecognizer

    return EdgeRecognizer(a.model, decoder=a.decoder, beam_size=a.beam_size, lm=a.lm, lm_weight=a.lm_weight,
                          word_score=a.word_score, pause_seconds=a.pause_seconds, num_threads=a.threads)


def _transcribe(a):
    rec = _recognizer(a)
    for f in a.audio:
        if a.stream:  # read the file as a live source would deliver it: one export chunk at a time
            from asr_kd.data.audio import load_audio

            stream, wave = rec.stream(), load_audio(f)
            step = rec.model.streaming["chunk_frames"] * int(16 * rec.feature_conf.frame_shift_ms)
            for k in range(0, len(wave), step):
                stream.accept(wave[k : k + step])
            text = stream.finish().text
        else:
            text = rec.transcribe(f).text
        print(f"{f} {text}", flush=True)


def _decode(a):
    from asr_kd.data.audio import load_utterance
    from asr_kd.data.kaldi_dir import load_data_dir, write_table

    rec = _recognizer(a)
    utts = load_data_dir(a.data, require_text=False)
    hyps = {u.utt: rec.transcribe(load_utterance(u)).text for u in utts}
    write_table(a.out, hyps)
    print(f"{a.out}: {len(hyps)} utterance(s) of {a.data}")


def _bench(a):
    from asr_kd.edge.bench import edge_bench

    rows = edge_bench(a.engines, a.data, a.out, a.threads, a.pin_core, a.chunk_ms, a.long_minutes, a.repeats,
                      a.max_utts, a.env)
    print(f"{a.out}/bench.md: {len(rows)} setting(s)")


def add_command(sub, name: str, summary: str, **kw) -> argparse.ArgumentParser:
    """A subcommand whose --help opens with the one-line summary the command list shows (unless given its own)."""
    kw.setdefault("description", summary)
    return sub.add_parser(name, help=summary, **kw)


def add_search_args(s: argparse.ArgumentParser) -> None:
    """CTC search options, shared with `asr-kd decode/transcribe`."""
    from asr_kd.ctc_search import DECODERS, PAUSE_SECONDS

    s.add_argument("--decoder", choices=DECODERS, default="greedy", help="CTC search (default: %(default)s)")
    s.add_argument("--beam-size", type=int, default=8, help="prefixes kept by --decoder beam (default: %(default)s)")
    s.add_argument("--lm", help="ARPA word n-gram (asr-kd make-lm) for --decoder beam: flashlight lexicon search")
    s.add_argument("--lm-weight", type=float, default=1.0, help="LM score weight (default: %(default)s)")
    s.add_argument("--word-score", type=float, default=0.0, help="score added per word (default: %(default)s)")
    s.add_argument("--pause-seconds", type=float, default=PAUSE_SECONDS,
                   help="a silence this long between two tokens is a word boundary (0: off; default: %(default)s)")


def _add_decoder_args(s: argparse.ArgumentParser) -> None:
    add_search_args(s)
    s.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="asr-kd-edge", description="torch-free ASR runtime for asr-kd ONNX exports "
                                "(onnxruntime, fbank in numpy, flashlight-text)")
    sub = p.add_subparsers(dest="command", required=True)

    s = add_command(sub, "transcribe", "print `<file> <text>` for each audio file")
    s.add_argument("--model", required=True, help=".onnx from `asr-kd export` (with --streaming for --stream)")
    s.add_argument("audio", nargs="+", help="audio files (any rate; channels averaged)")
    _add_decoder_args(s)
    s.add_argument("--stream", action="store_true", help="decode as a live stream, one export chunk at a time")
    s.set_defaults(fn=_transcribe)

    s = add_command(sub, "decode", "write `<utt> <text>` for every utterance of a Kaldi data dir")
    s.add_argument("--model", required=True, help=".onnx from `asr-kd export`")
    s.add_argument("--data", required=True, help="data dir (wav.scp, optional segments; no pipes)")
    s.add_argument("--out", required=True, help="hypothesis file to write (the format of decode_<set>/text)")
    _add_decoder_args(s)
    s.set_defaults(fn=_decode)
    s = add_command(sub, "bench", "edge benchmark: RTF, streaming latency, cold start, peak RSS, sizes")
    s.add_argument("--engines", nargs="+", required=True,
                   help=".onnx exports, and/or peers as peer:whisper-tiny.en / peer:pocketsphinx")
    s.add_argument("--data", required=True, help="data dir (Kaldi format) whose utterances are timed")
    s.add_argument("--out", required=True, help="folder for bench.json and bench.md")
    s.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="(default: %(default)s)")
    s.add_argument("--pin-core", type=int, default=0, help="core that 1-thread runs are pinned to (default: 0)")
    s.add_argument("--chunk-ms", type=int, nargs="+", default=[160, 320, 640],
                   help="streaming chunk sizes for the latency columns (default: %(default)s)")
    s.add_argument("--long-minutes", type=float, default=10.0,
                   help="length of the file whose peak RSS is measured (default: %(default)s)")
    s.add_argument("--repeats", type=int, default=3, help="(default: %(default)s)")
    s.add_argument("--max-utts", type=int, default=0, help="first N utterances only; 0: all (default: 0)")
    s.add_argument("--env", help="environment whose installed size is reported (default: this Python's prefix)")
    s.set_defaults(fn=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        print("asr-kd-edge: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, OSError, sf.LibsndfileError) as e:
        print(f"asr-kd-edge {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
