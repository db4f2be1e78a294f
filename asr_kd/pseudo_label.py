"""Sequence-level KD: the teacher's 1-best transcripts as CTC targets. Turns untranscribed audio
(e.g. data/train_unlab) into training data for the student."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import Utterance, load_data_dir, read_table, write_data_dir
from asr_kd.shards import shard_dir, shard_slice


def pseudo_label(checkpoint_path: str | Path, data_dir: str | Path, out_dir: str | Path, device: str = "cpu",
                 num_threads: int | None = None, shard: tuple[int, int] | None = None, **decoder) -> dict:
    """Write `out_dir`: `data_dir` with `text` = the model's 1-best per utterance (any existing text
    is replaced); utterances with an empty hypothesis are left out and counted. `decoder`: the search
    options of `Recognizer.from_checkpoint` (default greedy; beam search with a word LM gives far
    better labels for little time). With `shard` (i, N), only shard i's utterances, into
    OUT/splitN/i/ (a data dir: combine-data joins the N)."""
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(checkpoint_path, device=device, num_threads=num_threads, **decoder)
    data_dir = Path(data_dir)
    utts = load_data_dir(data_dir, require_text=False)
    if shard:
        utts, out_dir = shard_slice(utts, *shard), shard_dir(out_dir, *shard)
    labelled, empty = [], 0
    for u in tqdm(utts, desc="pseudo-label", unit="utt"):
        text = rec.transcribe(load_utterance(u)).text  # one space between words (Units.decode)
        if text:
            labelled.append(Utterance(u.utt, u.spk, u.path, u.start, u.end, text))
        else:
            empty += 1
    durations = read_table(data_dir / "utt2dur") if (data_dir / "utt2dur").exists() else None
    keep = {u.utt for u in labelled}
    write_data_dir(out_dir, labelled, {u: float(d) for u, d in durations.items() if u in keep} if durations else None)
    return {"utterances": len(labelled), "empty": empty}
