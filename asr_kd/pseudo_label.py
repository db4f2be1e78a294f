"""Sequence-level KD: the teacher's 1-best transcripts as CTC targets. Turns untranscribed audio
(e.g. data/train_unlab) into training data for the student."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import Utterance, load_data_dir, read_table, write_data_dir


def pseudo_label(checkpoint_path: str | Path, data_dir: str | Path, out_dir: str | Path, device: str = "cpu",
                 **decoder) -> dict:
    """Write `out_dir`: `data_dir` with `text` = the model's 1-best per utterance (any existing text
    is replaced); utterances with an empty hypothesis are left out and counted. `decoder`: the search
    options of `Recognizer.from_checkpoint` (default greedy; beam search with a word LM gives far
    better labels for little time)."""
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.from_checkpoint(checkpoint_path, device=device, **decoder)
    data_dir = Path(data_dir)
    labelled, empty = [], 0
    for u in tqdm(load_data_dir(data_dir, require_text=False), desc="pseudo-label", unit="utt"):
        text = rec.transcribe(load_utterance(u)).text  # one space between words (Units.decode)
        if text:
            labelled.append(Utterance(u.utt, u.spk, u.path, u.start, u.end, text))
        else:
            empty += 1
    durations = read_table(data_dir / "utt2dur") if (data_dir / "utt2dur").exists() else None
    keep = {u.utt for u in labelled}
    write_data_dir(out_dir, labelled, {u: float(d) for u, d in durations.items() if u in keep} if durations else None)
    return {"utterances": len(labelled), "empty": empty}
