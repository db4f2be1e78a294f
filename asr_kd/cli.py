"""`asr-kd <subcommand>`: thin wrappers over the modules; bad input ends in a one-line error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TRAIN_EXTRA_MODULES = ("torch", "torchaudio", "jiwer", "tqdm", "matplotlib", "onnx")  # `pip install '.[train]'`


def _compute_feats(a):
    from asr_kd.config import ExperimentConfig, FeatureConfig
    from asr_kd.features import compute_feats

    conf = ExperimentConfig.load(a.config).feature_conf if a.config else FeatureConfig()
    for d in a.data_dirs:
        frames, skipped, cut = compute_feats(d, conf, a.skip_bad, a.allow_pipes, a.shard)
        where = _written_to(d, a.shard)
        print(f"{where}: {frames} frames" + (f"; skipped {len(skipped)} bad utterance(s), see {where}/feats.skipped"
                                             if skipped else "")
              + (f"; {cut} segment(s) ran past the end of their recording and were cut there" if cut else ""))


def _merge_feats(a):
    from asr_kd.features import merge_feats

    for d in a.data_dirs:
        print(f"{d}: {merge_feats(d, a.nj)} frames from {a.nj} shard(s)")


def _validate_data(a):
    from asr_kd.data.validate import validate_data_dir

    problems = validate_data_dir(a.data_dir, check_audio=not a.no_audio_check, allow_pipes=a.allow_pipes)
    for p in problems:
        print(p)
    if problems:
        print(f"{a.data_dir}: {len(problems)} problem(s); `asr-kd fix-data {a.data_dir}` fixes order, "
              "duplicates and coverage", file=sys.stderr)
        return 1
    print(f"{a.data_dir}: OK")


def _fix_data(a):
    from asr_kd.data.validate import fix_data_dir

    r = fix_data_dir(a.data_dir)
    print(f"{a.data_dir}: kept {r['kept']} utterance(s), removed {r['removed']}; originals in {r['backup']}")


def _compute_cmvn(a):
    from asr_kd.features import compute_cmvn

    print(f"{a.data_dir}: CMVN over {compute_cmvn(a.data_dir)['frames']} frames")


def _make_units(a):
    from asr_kd.data.kaldi_dir import read_table
    from asr_kd.data.tokens import Units

    texts = read_table(a.text).values()
    units = Units.build(texts) if a.type == "char" else Units.train_subwords(texts, a.vocab_size, a.type)
    units.write(a.units)
    print(f"{a.units}: {len(units)} {a.type} units" + (f" (+ {Path(a.units).with_suffix('.model')})"
                                                          if units.model is not None else ""))


def _train(a):
    from asr_kd.config import ExperimentConfig
    from asr_kd.train import train

    conf = ExperimentConfig.load(a.config, a.set)
    teacher = a.teacher[0] if a.teacher and len(a.teacher) == 1 else a.teacher
    train(conf, a.exp, a.train, a.units, a.cmvn, dev_dir=a.dev, teacher_path=teacher,
          teacher_weights=a.teacher_weights, teacher_cache=a.teacher_cache, unlab_dir=a.unlab, init=a.init,
          device=a.device, resume=a.resume)


def _average(a):
    from asr_kd.average import average_checkpoints, epoch_checkpoint, pick_epochs

    epochs = pick_epochs(a.exp, a.last, a.best, a.by)
    out = average_checkpoints([epoch_checkpoint(a.exp, e) for e in epochs], a.out)
    print(f"{out}: average of epochs {' '.join(map(str, epochs))}")


def _dump_teacher(a):
    from asr_kd.teacher_cache import dump_teacher

    meta = dump_teacher(a.checkpoint, a.data, a.out, a.top_k, a.device, _chunk(a), a.recording_context, a.shard)
    print(f"{_written_to(a.out, a.shard)}: top-{meta['top_k']} of {meta['frames']} frames, {meta['bytes'] / 1e6:.1f} MB")


def _merge_teacher_cache(a):
    from asr_kd.teacher_cache import merge_teacher_cache

    meta = merge_teacher_cache(a.data, a.out, a.nj)
    print(f"{a.out}: top-{meta['top_k']} of {meta['frames']} frames from {a.nj} shard(s), {meta['bytes'] / 1e6:.1f} MB")


def _decode(a):
    from asr_kd.evaluate import decode_data_dir
    from asr_kd.scoring import kaldi_wer_line

    r = decode_data_dir(a.checkpoint, a.data, a.out, a.device, a.num_threads, a.allow_pipes,
                        whole_recordings=a.whole_recordings, shard=a.shard, **_decoder_kwargs(a))
    print(f"{_written_to(a.out, a.shard)}: {kaldi_wer_line(r)} %CER {r['cer']:.2f} RTF {r['rtf']['rtf_total']:.4f} "
          f"({r['rtf']['device']}, {r['rtf']['threads']} thread(s))")


def _merge_decode(a):
    from asr_kd.evaluate import merge_decode
    from asr_kd.scoring import kaldi_wer_line

    r = merge_decode(a.data, a.out, a.nj)
    print(f"{a.out}: {kaldi_wer_line(r)} %CER {r['cer']:.2f} RTF {r['rtf']['rtf_total']:.4f} "
          f"(total time / total audio of {a.nj} shard(s))")


def _transcribe(a):
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(a.checkpoint, device=a.device, num_threads=a.num_threads, **_decoder_kwargs(a))
    for f in a.files:
        print(f"{f} {rec.transcribe(f).text}")


def _split_long(a):
    from asr_kd.align import split_long_utterances

    r = split_long_utterances(a.data, a.checkpoint, a.out, a.max_seconds, a.device)
    print(f"{a.out}: {r['utterances']} utterances ({r['split']} long ones cut at word gaps)")


def _pseudo_label(a):
    from asr_kd.pseudo_label import pseudo_label

    r = pseudo_label(a.checkpoint, a.data, a.out, a.device, a.num_threads, a.shard, **_decoder_kwargs(a))
    print(f"{_written_to(a.out, a.shard)}: {r['utterances']} utterances labelled, {r['empty']} left out (empty hypothesis)")


def _combine_data(a):
    from asr_kd.data.kaldi_dir import combine_data_dirs

    print(f"{a.out}: {combine_data_dirs(a.out, a.sources)} utterances")


def _augment_data(a):
    from asr_kd.augment import augment_data_dir
    from asr_kd.config import AugmentConfig

    r = augment_data_dir(a.data, a.out, AugmentConfig.load(a.config, a.set), a.nj, a.allow_pipes)
    print(f"{a.out}: {r['utterances']} augmented utterance(s) ({r['written']} written now, the rest kept "
          f"from an earlier run); what each copy got is in {a.out}/utt2aug")


def _spikes(a):
    from asr_kd.spikes import spikes_report

    r = spikes_report(a.teacher, a.student, a.data, a.out, a.max_utts)
    print(f"{a.out}: {r['tokens']} tokens, student - teacher spike offset mean {r['mean_frames']:+.2f} "
          f"median {r['median_frames']:+.1f} frames; {100 * r['within_1_frame']:.1f}% within ±1 frame")


def _results(a):
    from asr_kd.fileio import write_text
    from asr_kd.report import results_table

    table = results_table(a.exp, a.sets, a.rtf_set or a.sets[-1], a.gap)
    if a.out:
        write_text(a.out, table)
    print(table, end="")


def _bench(a):
    import os

    from asr_kd.bench import bench

    threads = [1] if a.edge else [os.cpu_count() if t == "all" else int(t) for t in a.threads]
    rows = bench(a.checkpoint, a.data, a.out, a.devices, threads, a.batch_sizes, a.precisions, a.repeats,
                 a.max_utts, 0 if a.edge else None)
    print(f"{a.out}/bench.md: {len(rows)} setting(s)")


def _peer(a):
    from asr_kd.peers import decode_peer
    from asr_kd.scoring import kaldi_wer_line

    r = decode_peer(a.name, a.data, a.out, a.num_threads)
    print(f"{a.out}: {kaldi_wer_line(r)} %CER {r['cer']:.2f} RTF {r['rtf']['rtf_total']:.4f}")


def _make_lm(a):
    from asr_kd.data.kaldi_dir import read_table
    from asr_kd.lm import write_arpa

    if not a.text and not a.corpus:
        raise ValueError("make-lm needs --text and/or --corpus")
    sentences = [s for t in a.text for s in read_table(t).values()]
    for corpus in a.corpus:
        sentences += [line for line in Path(corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    sizes = write_arpa(sentences, a.out, a.order)
    print(f"{a.out}: " + ", ".join(f"{n} {k}-grams" for k, n in sizes.items()))


def _export(a):
    from asr_kd.export import export

    if a.int8:
        import tempfile

        from asr_kd.onnx_int8 import quantize_onnx

        if a.format != "onnx":
            raise ValueError("--int8 quantises ONNX exports only")
        with tempfile.TemporaryDirectory() as tmp:  # the fp32 export, then its int8 copy at --out
            fp32 = export(a.checkpoint, f"{tmp}/fp32.onnx", a.format, a.streaming, a.chunk_ms)
            out = quantize_onnx(fp32, a.out, a.calib, a.int8, a.calib_utts, reduce_range=not a.int8_full_range)
    else:
        out = export(a.checkpoint, a.out, a.format, a.streaming, a.chunk_ms)
    print(f"{out}: {a.format}{' streaming' if a.streaming else ''}{' int8 ' + a.int8 if a.int8 else ''} export "
          f"of {a.checkpoint}")


def _plot(a):
    from asr_kd import plots

    if a.kind == "wer-rtf":
        plots.wer_vs_rtf(a.inputs, a.out)
    elif a.kind == "curves":
        plots.training_curves(a.inputs, a.out)
    else:
        if len(a.inputs) != 3:
            raise ValueError("spikes takes TEACHER.pt STUDENT.pt AUDIO")
        plots.posterior_spikes(*a.inputs, a.out)
    print(f"{a.out}: written")


def _prepare_synth(a):
    from data_prep import synth

    return synth.main(a.extra)


def _add_shard_arg(s) -> None:
    from asr_kd.shards import parse_shard

    s.add_argument("--shard", type=parse_shard, metavar="I/N",
                   help="only shard I of N (contiguous slices of the sorted utterances), into OUT/splitN/I/; "
                        "then merge the N shards")


def _written_to(out: str, shard: tuple[int, int] | None) -> str:
    """Where a job with --shard I/N wrote: OUT/splitN/I, or OUT unsharded."""
    from asr_kd.shards import shard_dir

    return str(shard_dir(out, *shard)) if shard else out


def _add_merge_args(s) -> None:
    s.add_argument("--nj", type=int, required=True, help="number of shards N (the N of --shard I/N)")


def _chunk(a):
    from asr_kd.framing import ChunkConfig

    return ChunkConfig(a.chunk, a.left, a.right)


def _add_chunk_args(s) -> None:
    from asr_kd.framing import ChunkConfig

    d = ChunkConfig()
    s.add_argument("--chunk", type=int, default=d.chunk, help="40 ms frames kept per window (default: %(default)s)")
    s.add_argument("--left", type=int, default=d.left, help="left context frames per window (default: %(default)s)")
    s.add_argument("--right", type=int, default=d.right, help="right context frames per window (default: %(default)s)")


def _add_decoder_args(s) -> None:
    from asr_kd.edge.cli import add_search_args
    from asr_kd.quantize import PRECISIONS

    add_search_args(s)
    s.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="int8: dynamic quantisation of Linear/LSTM/GRU layers, CPU only (default: %(default)s)")


def _decoder_kwargs(a) -> dict:
    return {"chunk": _chunk(a), "pause_seconds": a.pause_seconds, "decoder": a.decoder, "beam_size": a.beam_size,
            "precision": a.precision, "lm": a.lm, "lm_weight": a.lm_weight, "word_score": a.word_score}


def build_parser() -> argparse.ArgumentParser:
    from asr_kd.edge.cli import add_command

    p = argparse.ArgumentParser(prog="asr-kd", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = add_command(sub, "compute-feats", "fbank features of data dirs into their feature cache")
    s.add_argument("data_dirs", nargs="+", help="Kaldi data directories")
    s.add_argument("--config", help="experiment YAML whose feature_conf to use (default: built-in defaults)")
    s.add_argument("--skip-bad", action="store_true",
                   help="leave out unreadable/empty/NaN audio (listed in DIR/feats.skipped) instead of stopping")
    s.add_argument("--allow-pipes", action="store_true", help="run `<cmd> |` wav.scp entries (they are shell commands)")
    _add_shard_arg(s)
    s.set_defaults(fn=_compute_feats)

    s = add_command(sub, "merge-feats", "join the feature caches of compute-feats --shard I/N into DIR's own")
    s.add_argument("data_dirs", nargs="+", help="Kaldi data directories with DIR/splitN/1..N/feats.*")
    _add_merge_args(s)
    s.set_defaults(fn=_merge_feats)

    s = add_command(sub, "validate-data", "check a Kaldi data dir against validate_data_dir.sh rules")
    s.add_argument("data_dir")
    s.add_argument("--no-audio-check", action="store_true", help="do not open every audio file's header")
    s.add_argument("--allow-pipes", action="store_true", help="accept `<cmd> |` wav.scp entries")
    s.set_defaults(fn=_validate_data)

    s = add_command(sub, "fix-data", "sort, de-duplicate and intersect a data dir (fix_data_dir.sh); backs up first")
    s.add_argument("data_dir")
    s.set_defaults(fn=_fix_data)

    s = add_command(sub, "compute-cmvn", "global CMVN stats of a data dir's features -> DIR/cmvn.json")
    s.add_argument("data_dir")
    s.set_defaults(fn=_compute_cmvn)

    s = add_command(sub, "make-units", "units.txt (<blank> 0, <unk> 1) from a Kaldi text file: characters, or "
                    "sentencepiece subwords (units.model beside it)")
    s.add_argument("text", help="Kaldi text file (e.g. data/train/text)")
    s.add_argument("units", help="output units.txt")
    s.add_argument("--type", choices=["char", "bpe", "unigram"], default="char",
                   help="characters, or sentencepiece BPE / unigram subwords (default: %(default)s)")
    s.add_argument("--vocab-size", type=int, default=256,
                   help="subword pieces to learn, <blank> not counted; fewer when the text has fewer (default: %(default)s)")
    s.set_defaults(fn=_make_units)

    s = add_command(sub, "train", "train a model (teacher or student; --teacher turns on KD); data-parallel "
                    "under `torchrun --nproc_per_node=N -m asr_kd train ...`")
    s.add_argument("--config", required=True, help="experiment YAML")
    s.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one YAML value, e.g. --set train_conf.epochs=3 (repeatable)")
    s.add_argument("--train", required=True, help="training data dir (with feature cache)")
    s.add_argument("--dev", help="dev data dir (with feature cache) for per-epoch loss/CER")
    s.add_argument("--units", required=True, help="units.txt")
    s.add_argument("--cmvn", required=True, help="cmvn.json of the training data")
    s.add_argument("--exp", required=True, help="experiment directory to write")
    s.add_argument("--teacher", nargs="+", help="teacher checkpoint(s) for KD, run online; several = an ensemble")
    s.add_argument("--teacher-weights", nargs="+", type=float, help="ensemble weights, one per --teacher")
    s.add_argument("--teacher-cache", help="teacher top-k posteriors from `asr-kd dump-teacher` (instead of --teacher)")
    s.add_argument("--init", help="start from this checkpoint's weights (fine-tuning; same model config)")
    s.add_argument("--unlab", help="untranscribed data dir (features cached) that learns from the KD term only")
    s.add_argument("--device", default="auto",
                   help="auto | cpu | cuda[:N] (default: auto); under torchrun auto/cuda = the process's LOCAL_RANK GPU")
    s.add_argument("--resume", action="store_true", help="continue from EXP/last_state.pt if present")
    s.set_defaults(fn=_train)

    s = add_command(sub, "average", "average the weights of a run's epoch checkpoints (last N or best N by dev loss or CER)",
                    description="Write the mean of the weights of a run's epoch checkpoints: the last N epochs, or the "
                                "best N by dev loss or dev CER (EXP/log/metrics.jsonl).")
    s.add_argument("--exp", required=True, help="experiment dir with epoch_<N>.pt files")
    s.add_argument("--last", type=int, default=0, help="average the last N epochs")
    s.add_argument("--best", type=int, default=0, help="average the N epochs with the lowest --by")
    s.add_argument("--by", choices=("dev_loss", "dev_cer"), default="dev_loss",
                   help="what --best ranks epochs by (default: dev_loss); a CTC model's dev loss can turn up while its CER still falls")
    s.add_argument("--out", required=True, help="checkpoint to write, e.g. EXP/avg.pt")
    s.set_defaults(fn=_average)

    s = add_command(sub, "dump-teacher", "store a teacher's top-k log-posteriors for a data dir (KD cache)")
    s.add_argument("--checkpoint", required=True, help="teacher checkpoint")
    s.add_argument("--data", required=True, nargs="+",
                   help="data dir(s) with a feature cache (asr-kd compute-feats), e.g. data/train data/train_unlab")
    s.add_argument("--out", required=True, help="cache folder to write")
    s.add_argument("--top-k", type=int, default=16, help="symbols kept per frame (default: %(default)s)")
    s.add_argument("--recording-context", action="store_true",
                   help="run the teacher over each whole recording and slice every segment from it (pieces "
                        "from split-long then get their neighbours as context)")
    s.add_argument("--device", default="cpu")
    _add_chunk_args(s)
    _add_shard_arg(s)
    s.set_defaults(fn=_dump_teacher)

    s = add_command(sub, "merge-teacher-cache", "join the caches of dump-teacher --shard I/N into one")
    s.add_argument("--data", required=True, nargs="+", help="the data dir(s) the shards were dumped from")
    s.add_argument("--out", required=True, help="the --out of the shards: OUT/splitN/1..N -> OUT")
    _add_merge_args(s)
    s.set_defaults(fn=_merge_teacher_cache)

    s = add_command(sub, "decode", "decode a data dir; write text, wer, per_utt, per_spk, rtf.json")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", required=True, help="Kaldi data dir with text (references)")
    s.add_argument("--out", required=True, help="output dir, e.g. exp/teacher/decode_test")
    s.add_argument("--device", default="cpu", help="cpu | cuda[:N] | auto (default: cpu)")
    s.add_argument("--num-threads", type=int, default=1, help="CPU threads (default: 1)")
    s.add_argument("--allow-pipes", action="store_true", help="run `<cmd> |` wav.scp entries (they are shell commands)")
    s.add_argument("--whole-recordings", action="store_true",
                   help="decode each wav.scp recording whole and score it against DATA/reco2text (long-form)")
    _add_chunk_args(s)
    _add_decoder_args(s)
    _add_shard_arg(s)
    s.set_defaults(fn=_decode)

    s = add_command(sub, "merge-decode", "score the shards of decode --shard I/N as one decode dir")
    s.add_argument("--data", required=True, help="the data dir the shards decoded")
    s.add_argument("--out", required=True, help="the --out of the shards: OUT/splitN/1..N -> OUT")
    _add_merge_args(s)
    s.set_defaults(fn=_merge_decode)

    s = add_command(sub, "transcribe", "print the transcript of audio files")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("files", nargs="+")
    s.add_argument("--device", default="cpu")
    s.add_argument("--num-threads", type=int, default=1)
    _add_chunk_args(s)
    _add_decoder_args(s)
    s.set_defaults(fn=_transcribe)

    s = add_command(sub, "split-long", "cut utterances longer than --max-seconds at word gaps (forced alignment)")
    s.add_argument("--data", required=True, help="Kaldi data dir with text")
    s.add_argument("--checkpoint", required=True, help="model used for the forced alignment (e.g. the teacher)")
    s.add_argument("--out", required=True, help="output data dir (with segments into the original audio)")
    s.add_argument("--max-seconds", type=float, default=20.0, help="longest piece (default: %(default)s)")
    s.add_argument("--device", default="cpu")
    s.set_defaults(fn=_split_long)

    s = add_command(sub, "pseudo-label", "teacher 1-best transcripts as text of a data dir (sequence-level KD)")
    s.add_argument("--checkpoint", required=True, help="teacher checkpoint")
    s.add_argument("--data", required=True, help="data dir, e.g. data/train_unlab (text not needed)")
    s.add_argument("--out", required=True, help="output data dir with the pseudo-labels as text")
    s.add_argument("--device", default="cpu")
    s.add_argument("--num-threads", type=int, help="CPU threads (default: torch's)")
    _add_chunk_args(s)
    _add_decoder_args(s)
    _add_shard_arg(s)
    s.set_defaults(fn=_pseudo_label)

    s = add_command(sub, "combine-data", "union of data dirs (combine_data.sh), e.g. train + pseudo-labelled")
    s.add_argument("out")
    s.add_argument("sources", nargs="+")
    s.set_defaults(fn=_combine_data)

    s = add_command(sub, "augment-data", "augmented copies of a data dir (speed, pitch, noise, reverb, "
                    "telephone) as new wavs + a data dir; combine-data them with the original")
    s.add_argument("--data", required=True, help="source data dir, e.g. data/train")
    s.add_argument("--out", required=True, help="data dir to write (OUT/wav/*.wav, OUT/utt2aug); rerun to resume")
    s.add_argument("--config", help="augmentation YAML, e.g. conf/augment.yaml (default: built-in defaults)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one YAML value, e.g. --set copies=2 (repeatable)")
    s.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    s.add_argument("--allow-pipes", action="store_true", help="run `<cmd> |` wav.scp entries (they are shell commands)")
    s.set_defaults(fn=_augment_data)

    s = add_command(sub, "spikes", "teacher vs student CTC spike timing (forced alignment): JSON + PNG")
    s.add_argument("--teacher", required=True, help="teacher checkpoint")
    s.add_argument("--student", required=True, help="student checkpoint")
    s.add_argument("--data", required=True, help="data dir with text")
    s.add_argument("--out", required=True, help="output folder for spikes.json and spikes.png")
    s.add_argument("--max-utts", type=int, default=0, help="use at most this many utterances (0 = all)")
    s.set_defaults(fn=_spikes)

    s = add_command(sub, "results", "Markdown WER/RTF table from experiment dirs")
    s.add_argument("--exp", nargs="+", required=True, help="experiment dirs with decode_<set>/result.json")
    s.add_argument("--sets", nargs="+", default=["dev", "test"])
    s.add_argument("--rtf-set", help="set whose RTF is shown (default: the last of --sets)")
    s.add_argument("--out", help="also write the table to this file")
    s.add_argument("--gap", action="store_true",
                   help="add the fraction of the WER gap recovered (first --exp = CTC-only student, last = teacher)")
    s.set_defaults(fn=_results)

    s = add_command(sub, "bench", "RTF benchmark: checkpoints x devices x threads x batch sizes x precisions")
    s.add_argument("--checkpoint", nargs="+", required=True, help="checkpoints to compare")
    s.add_argument("--data", required=True, help="data dir whose utterances are decoded")
    s.add_argument("--out", required=True, help="folder for bench.json and bench.md")
    s.add_argument("--devices", nargs="+", default=["cpu"], help="cpu and/or cuda[:N] (default: cpu)")
    s.add_argument("--threads", nargs="+", default=["1"], help="CPU thread counts; 'all' = every core (default: 1)")
    s.add_argument("--batch-sizes", nargs="+", type=int, default=[1], help="utterances per model call (default: 1)")
    s.add_argument("--precisions", nargs="+", choices=["fp32", "int8", "fp16", "bf16"], default=["fp32"],
                   help="int8 = dynamic quantisation (CPU); fp16/bf16 = autocast (GPU) (default: fp32)")
    s.add_argument("--repeats", type=int, default=3, help="timed passes; the median is reported (default: 3)")
    s.add_argument("--max-utts", type=int, default=0, help="use the first N utterances (0 = all)")
    s.add_argument("--edge", action="store_true", help="edge-CPU mode: 1 thread, pinned to core 0")
    s.set_defaults(fn=_bench)

    s = add_command(sub, "peer", "decode a data dir with a peer recogniser (Whisper tiny.en, pocketsphinx)")
    s.add_argument("name", choices=["whisper-tiny.en", "pocketsphinx"])
    s.add_argument("--data", required=True, help="Kaldi data dir with text")
    s.add_argument("--out", required=True, help="output dir, e.g. exp/peers/whisper-tiny.en/decode_test")
    s.add_argument("--num-threads", type=int, default=1, help="CPU threads (default: 1)")
    s.set_defaults(fn=_peer)

    s = add_command(sub, "make-lm", "word n-gram LM (ARPA, interpolated absolute discounting) from a Kaldi text file")
    s.add_argument("--text", action="append", default=[],
                   help="Kaldi text file (utt-id words), e.g. data/train/text; repeatable")
    s.add_argument("--corpus", action="append", default=[],
                   help="plain LM text, one normalised sentence per line, e.g. data/local/lm/corpus.txt; "
                        "repeatable (sentences already in a --text count twice)")
    s.add_argument("--out", required=True, help="ARPA file to write, e.g. data/lang/lm.arpa")
    s.add_argument("--order", type=int, default=3, help="n-gram order (default: %(default)s)")
    s.set_defaults(fn=_make_lm)

    s = add_command(sub, "export", "export a checkpoint to ONNX (.onnx) or TorchScript (.ts) for deployment")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="(default: %(default)s)")
    s.add_argument("--out", required=True, help="output file: .onnx for onnx, .ts for torchscript; "
                   "decode/transcribe/bench accept it as --checkpoint")
    s.add_argument("--streaming", action="store_true",
                   help="ONNX streaming step of a unidirectional RNN student for the torch-free runtime (asr-kd-edge): "
                   "fbank chunk + carried state in, logits + next state out")
    s.add_argument("--chunk-ms", type=int, default=320,
                   help="with --streaming: audio per call the export is made for (default: %(default)s)")
    s.add_argument("--int8", choices=["hybrid", "static", "dynamic"],
                   help="ONNX int8 for the edge runtime: hybrid = static QDQ (Conv/MatMul, calibrated) + dynamic int8 "
                   "LSTM (fastest); static = QDQ only (LSTM stays fp32: ORT has no static int8 LSTM); dynamic = no "
                   "calibration")
    s.add_argument("--calib", help="with --int8 static/hybrid: data dir whose utterances calibrate the activations "
                   "(e.g. data/dev)")
    s.add_argument("--calib-utts", type=int, default=300, help="calibration utterances (default: %(default)s)")
    s.add_argument("--int8-full-range", action="store_true",
                   help="with --int8: 8-bit weights (default: |w| <= 64), only for CPUs with VNNI or ARM: x86 CPUs "
                   "with AVX2 alone saturate their int16 sums")
    s.set_defaults(fn=_export)

    s = add_command(sub, "plot", "PNG plots: WER vs RTF, training curves, teacher vs student posterior spikes")
    s.add_argument("kind", choices=["wer-rtf", "curves", "spikes"])
    s.add_argument("inputs", nargs="+", help="wer-rtf: decode dirs; curves: experiment dirs; "
                   "spikes: TEACHER.pt STUDENT.pt AUDIO")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.set_defaults(fn=_plot)

    s = add_command(sub, "prepare-synth", "synthesise the default offline corpus (see its --help)",
                    add_help=False)
    s.set_defaults(fn=_prepare_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except ModuleNotFoundError as e:
        if e.name not in TRAIN_EXTRA_MODULES:
            raise
        print(f"asr-kd: error: needs {e.name}, from the training extra: pip install '.[train]' "
              "(the torch-free runtime is asr-kd-edge)", file=sys.stderr)
        return 1


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "prepare-synth" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        print("asr-kd: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"asr-kd {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
