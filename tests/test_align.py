import numpy as np
import soundfile as sf
import torch

from asr_kd import checkpoint
from asr_kd.align import Word, align_words, split_at_gaps, split_long_utterances
from asr_kd.config import FeatureConfig
from asr_kd.data.kaldi_dir import load_data_dir, read_table
from asr_kd.data.tokens import Units
from asr_kd.data.validate import validate_data_dir
from asr_kd.models import build_model

TEXT = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AGAIN AND AGAIN UNTIL THE SUN SETS"


def test_split_at_gaps_keeps_every_word_once():
    words = [Word(f"W{i}", 10 * i, 10 * i + 6) for i in range(20)]
    pieces = split_at_gaps(words, 205, max_frames=45)
    assert " ".join(p[2] for p in pieces) == " ".join(w.text for w in words)
    assert pieces[0][0] == 0 and pieces[-1][1] == 205
    for (a, b, _), (c, _, _) in zip(pieces, pieces[1:]):
        assert b == c  # contiguous, no frame lost
    assert all(b - a <= 45 for a, b, _ in pieces[:-1])
    cut = pieces[0][1]
    assert any(w.end <= cut <= v.start for w, v in zip(words, words[1:]))  # cut inside a gap


def test_long_utterance_split_by_forced_alignment(tmp_path):
    torch.manual_seed(0)
    units = Units.build([TEXT])
    conf = {"hidden_size": 16, "num_layers": 1, "subsampling_channels": 8}
    model = build_model("rnn_ctc", conf, 80, len(units)).eval()
    ckpt = tmp_path / "m.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), ckpt)
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for utt, seconds in (("spk-long", 12.0), ("spk-short", 2.0)):
        sf.write(data / f"{utt}.wav", (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
    (data / "wav.scp").write_text(f"spk-long {data / 'spk-long.wav'}\nspk-short {data / 'spk-short.wav'}\n")
    (data / "text").write_text(f"spk-long {TEXT}\nspk-short THE DOG\n")
    (data / "utt2spk").write_text("spk-long spk\nspk-short spk\n")
    (data / "spk2utt").write_text("spk spk-long spk-short\n")

    logits, _ = model(torch.zeros(1, 1198, 80), torch.tensor([1198]))
    words = align_words(logits[0], TEXT, units)
    assert [w.text for w in words] == TEXT.split() and all(w.start < w.end for w in words)

    result = split_long_utterances(data, ckpt, tmp_path / "split", max_seconds=3.0)
    assert result["split"] == 1
    assert validate_data_dir(tmp_path / "split") == []
    pieces = [u for u in load_data_dir(tmp_path / "split") if u.utt.startswith("spk-long-")]
    assert len(pieces) >= 4 and " ".join(p.text for p in pieces) == TEXT
    assert pieces[0].start == 0.0 and pieces[-1].end == 12.0
    assert all(a.end == b.start for a, b in zip(pieces, pieces[1:]))
    # a random model aligns some words over seconds; only a piece of one such word may exceed the limit
    assert all(p.end - p.start <= 3.0 + 0.1 for p in pieces if " " in p.text)
    assert read_table(tmp_path / "split" / "text")["spk-short"] == "THE DOG"
