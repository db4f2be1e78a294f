import pytest

from asr_kd import checkpoint
from asr_kd.cli import main
from asr_kd.config import FeatureConfig
from asr_kd.data.kaldi_dir import DataDirError, combine_data_dirs, load_data_dir, read_table
from asr_kd.data.tokens import Units
from asr_kd.data.validate import validate_data_dir
from asr_kd.lm import write_arpa
from asr_kd.models import build_model
from asr_kd.pseudo_label import pseudo_label
from asr_kd.recognizer import Recognizer


def test_pseudo_labels_are_the_teachers_1best_and_combine(data_dir, data_dir_factory, tmp_path):
    import torch

    torch.manual_seed(0)
    units = Units.build(["ABC "])
    conf = {"hidden_size": 16, "num_layers": 1, "subsampling_channels": 8}
    model = build_model("rnn_ctc", conf, 80, len(units)).eval()
    with torch.no_grad():
        model.head.bias[0] = -5.0  # random weights; keep blank from swallowing everything
    ckpt = tmp_path / "t.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), ckpt)
    (data_dir / "text").unlink()  # untranscribed pool
    r = pseudo_label(ckpt, data_dir, tmp_path / "pl")
    assert r["utterances"] + r["empty"] == 6 and r["utterances"] > 0
    rec = Recognizer.from_checkpoint(ckpt)
    texts = read_table(tmp_path / "pl" / "text")
    for u in load_data_dir(tmp_path / "pl"):
        assert texts[u.utt] == " ".join(rec.transcribe(u.path).text.split())
    assert validate_data_dir(tmp_path / "pl") == []

    # beam search with a word LM (the recipe's pseudo-labels): only the LM's words, as `decode` would give
    arpa = tmp_path / "lm.arpa"
    write_arpa(["AB CA", "CAB BA", "A BAC"], arpa)  # no word "C", the random model's greedy output
    assert main(["pseudo-label", "--checkpoint", str(ckpt), "--data", str(data_dir), "--out", str(tmp_path / "pl_lm"),
                 "--decoder", "beam", "--beam-size", "8", "--lm", str(arpa), "--lm-weight", "2.0"]) == 0
    rec_lm = Recognizer.from_checkpoint(ckpt, decoder="beam", beam_size=8, lm=arpa, lm_weight=2.0)
    texts_lm = read_table(tmp_path / "pl_lm" / "text")
    assert texts_lm and texts_lm != {u: texts[u] for u in texts_lm}
    for u in load_data_dir(tmp_path / "pl_lm"):
        assert texts_lm[u.utt] == " ".join(rec_lm.transcribe(u.path).text.split())
        assert set(texts_lm[u.utt].split()) <= {"AB", "CA", "CAB", "BA", "A", "BAC"}

    # 2 shards (pseudo-label --shard i/2), joined with combine-data: the labels of one unsharded run
    for i in (1, 2):
        assert main(["pseudo-label", "--checkpoint", str(ckpt), "--data", str(data_dir), "--out", str(tmp_path / "pl2"),
                     "--num-threads", "1", "--shard", f"{i}/2"]) == 0
    shards = [tmp_path / "pl2" / "split2" / str(i) for i in (1, 2)]
    assert {u.utt for u in load_data_dir(shards[0], require_text=False)} <= {"spka-001", "spka-002", "spkb-001"}
    combine_data_dirs(tmp_path / "pl2", shards)
    assert read_table(tmp_path / "pl2" / "text") == texts

    other = data_dir_factory(tmp_path / "other", {"spkz-001": "A B", "spkz-002": "C"})
    n = combine_data_dirs(tmp_path / "all", [tmp_path / "pl", other])
    assert n == r["utterances"] + 2 and validate_data_dir(tmp_path / "all") == []
    with pytest.raises(DataDirError, match="more than one"):
        combine_data_dirs(tmp_path / "dup", [other, other])
    with pytest.raises(DataDirError, match="pseudo-label"):
        combine_data_dirs(tmp_path / "mixed", [data_dir, other])
