import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from conftest import make_recording_dir

from asr_kd import checkpoint
from asr_kd.config import ExperimentConfig, FeatureConfig
from asr_kd.data.kaldi_dir import read_table
from asr_kd.data.tokens import Units
from asr_kd.features import FeatureCache, compute_cmvn, compute_feats, load_cmvn, pad_with_silence
from asr_kd.framing import subsampled_length
from asr_kd.losses import kd_loss
from asr_kd.models import build_model
from asr_kd.teacher_cache import TeacherCache, dump_teacher
from asr_kd.train import _pad_silence, train

TEACHER = {"d_model": 16, "num_heads": 2, "ffn_dim": 32, "num_layers": 1, "conv_kernel_size": 3,
           "subsampling_channels": 4}


def _student_kd(**train_conf) -> ExperimentConfig:
    """A tiny GRU student with KD: one epoch on one thread."""
    return ExperimentConfig.from_dict({
        "model": "rnn_ctc", "model_conf": {"hidden_size": 16, "num_layers": 1, "subsampling_channels": 8},
        "train_conf": {"epochs": 1, "num_threads": 1, "log_interval": 1, **train_conf}, "kd_conf": {"weight": 0.5}})


@pytest.fixture
def teacher_setup(data_dir, tmp_path):
    compute_feats(data_dir, FeatureConfig())
    compute_cmvn(data_dir)
    units = Units.build(read_table(data_dir / "text").values())
    units.write(data_dir / "units.txt")
    torch.manual_seed(0)
    model = build_model("conformer_ctc", TEACHER, 80, len(units), load_cmvn(data_dir / "cmvn.json")).eval()
    ckpt = tmp_path / "teacher.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "conformer_ctc", TEACHER, units, FeatureConfig()), ckpt)
    return data_dir, ckpt, model, units


def test_cache_round_trip_holds_the_teachers_top_k(teacher_setup, tmp_path):
    data_dir, ckpt, model, units = teacher_setup
    meta = dump_teacher(ckpt, data_dir, tmp_path / "cache", top_k=4)
    assert meta["top_k"] == 4 and meta["vocab"] == len(units)
    cache = TeacherCache(tmp_path / "cache")
    assert isinstance(cache.logp, np.memmap)  # read lazily, not loaded whole
    feats = FeatureCache(data_dir)
    for utt in feats.index:
        with torch.no_grad():
            logits, n = model(torch.from_numpy(feats[utt])[None], torch.tensor([feats.num_frames(utt)]))
        top = logits[0, : n.item()].log_softmax(-1).topk(4, dim=-1)
        logp, ids = cache[utt]
        assert torch.equal(ids, top.indices)
        torch.testing.assert_close(logp, top.values, atol=2e-2, rtol=1e-2)  # fp16 storage


def test_kd_from_full_cache_equals_online_kd(teacher_setup, tmp_path):
    data_dir, ckpt, model, units = teacher_setup
    dump_teacher(ckpt, data_dir, tmp_path / "cache", top_k=len(units))  # every symbol kept
    cache = TeacherCache(tmp_path / "cache")
    feats = FeatureCache(data_dir)
    utts = sorted(feats.index)[:2]
    x = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(feats[u]) for u in utts], batch_first=True)
    lens = torch.tensor([feats.num_frames(u) for u in utts])
    with torch.no_grad():
        online, out_lens = model(x, lens)
    student = torch.randn_like(online)
    dense = cache.dense(utts, online.shape[1])
    for temperature in (1.0, 2.0):
        assert kd_loss(student, dense, out_lens, temperature).item() == pytest.approx(
            kd_loss(student, online, out_lens, temperature).item(), rel=2e-2)


def test_training_reads_the_cache(teacher_setup, tmp_path):
    data_dir, ckpt, _, _ = teacher_setup
    dump_teacher(ckpt, data_dir, tmp_path / "cache", top_k=8)
    conf = _student_kd(max_frames_per_batch=300)
    train(conf, tmp_path / "exp", data_dir, data_dir / "units.txt", data_dir / "cmvn.json",
          teacher_cache=tmp_path / "cache")
    recs = [json.loads(line) for line in (tmp_path / "exp" / "log" / "metrics.jsonl").read_text().splitlines()]
    assert all("kd" in r for r in recs if "loss" in r) and recs
    assert json.loads((tmp_path / "exp" / "train_summary.json").read_text())["kd"] is True


def _unlab_dir(data_dir_factory, tmp_path):
    """An untranscribed data dir (no `text`) with features, utterance ids unlike the fixture's."""
    d = data_dir_factory(tmp_path / "unlab", {"spkd-001": "X", "spkd-002": "Y", "spke-001": "Z"})
    (d / "text").unlink()
    compute_feats(d, FeatureConfig())
    return d


def test_untranscribed_audio_trains_through_kd_from_one_cache(teacher_setup, data_dir_factory, tmp_path):
    data_dir, ckpt, _, _ = teacher_setup
    unlab = _unlab_dir(data_dir_factory, tmp_path)
    meta = dump_teacher(ckpt, [data_dir, unlab], tmp_path / "cache", top_k=8)  # one cache for both dirs
    assert set(TeacherCache(tmp_path / "cache").index) == set(FeatureCache(data_dir).index) | set(FeatureCache(unlab).index)
    assert meta["frames"] > 0
    conf = _student_kd(max_frames_per_batch=2000)
    args = (conf, tmp_path / "exp", data_dir, data_dir / "units.txt", data_dir / "cmvn.json")
    train(*args, teacher_cache=tmp_path / "cache", unlab_dir=unlab)
    assert json.loads((tmp_path / "exp" / "train_summary.json").read_text())["train_utts"] == 6 + 3
    recs = [json.loads(line) for line in (tmp_path / "exp" / "log" / "metrics.jsonl").read_text().splitlines()]
    assert any(0 < r.get("labelled", 1) < 1 for r in recs)  # batches mixing both kinds
    dump_teacher(ckpt, data_dir, tmp_path / "cache_train", top_k=8)
    with pytest.raises(ValueError, match="no teacher posteriors"):
        train(*args, teacher_cache=tmp_path / "cache_train", unlab_dir=unlab)
    with pytest.raises(ValueError, match="needs a teacher"):
        train(*args, unlab_dir=unlab)


def test_silence_padding_keeps_teacher_frames_aligned(teacher_setup, tmp_path):
    data_dir, ckpt, _, units = teacher_setup
    for n in (7, 50, 101, 203):  # a front pad of 4a input frames shifts the outputs by exactly a
        for a, b in ((0, 3), (2, 0), (5, 7)):
            assert subsampled_length(n + 4 * a + 4 * b) == subsampled_length(n) + a + b
    feats = torch.randn(30, 80)
    padded = pad_with_silence(feats, 8, 4, FeatureConfig(dither=0.0))
    assert padded.shape == (42, 80) and torch.equal(padded[8:38], feats)
    assert torch.allclose(padded[:8], padded[38:39].expand(8, 80))  # digital silence: one constant frame
    dump_teacher(ckpt, data_dir, tmp_path / "cache", top_k=4)
    cache = TeacherCache(tmp_path / "cache")
    utt = sorted(cache.index)[0]
    n = cache.index[utt][1]
    dense = cache.dense([utt, utt], n + 5, shifts=[0, 3])  # (2, n + 5, V)
    torch.testing.assert_close(dense[1, 3 : 3 + n], dense[0, :n])
    assert torch.all(dense[1, :3].argmax(-1) == 0) and torch.all(dense[1, 3 + n :].argmax(-1) == 0)
    assert torch.all(dense[1, :3, 0] == 0.0)  # log 1: certain blank on the added silence
    conf = _student_kd(max_frames_per_batch=2000, pad_silence_s=0.3)
    train(conf, tmp_path / "exp", data_dir, data_dir / "units.txt", data_dir / "cmvn.json",
          teacher_cache=tmp_path / "cache")
    assert (tmp_path / "exp" / "final.pt").exists()


def test_kd_delay_pads_silence_for_the_teachers_last_frames(teacher_setup, tmp_path):
    items = [("a", torch.randn(30, 80), [1]), ("b", torch.randn(57, 80), [2])]
    torch.manual_seed(0)
    padded, before = _pad_silence(items, 0, FeatureConfig(dither=0.0), min_after=3)
    assert before == [0, 0] and [f.shape[0] for _, f, _ in padded] == [30 + 12, 57 + 12]  # 3 x 40 ms after each
    for _ in range(20):
        padded, before = _pad_silence(items, 2, FeatureConfig(dither=0.0), min_after=3)
        assert all(f.shape[0] - 4 * b - n == 12 for (_, f, _), b, n in zip(padded, before, (30, 57)))
    data_dir, ckpt, _, _ = teacher_setup
    dump_teacher(ckpt, data_dir, tmp_path / "cache", top_k=4)
    conf = _student_kd(max_frames_per_batch=2000)
    conf.kd_conf.delay = 2
    train(conf, tmp_path / "exp", data_dir, data_dir / "units.txt", data_dir / "cmvn.json",
          teacher_cache=tmp_path / "cache")
    assert yaml.safe_load((tmp_path / "exp" / "train.yaml").read_text())["kd_conf"]["delay"] == 2
    assert checkpoint.load(tmp_path / "exp" / "final.pt")["output_delay"] == 2  # its word times move back 80 ms
    recs = [json.loads(line) for line in (tmp_path / "exp" / "log" / "metrics.jsonl").read_text().splitlines()]
    kd = [r["kd"] for r in recs if "kd" in r]
    assert kd and all(math.isfinite(v) for v in kd)


def test_recording_context_slices_each_segment_from_a_whole_recording_pass(teacher_setup, tmp_path):
    from asr_kd.recognizer import Recognizer

    _, ckpt, _, _ = teacher_setup
    root = make_recording_dir(tmp_path / "split", "spk-rec",
                              [("spk-rec-000", 0.0, 2.0, "HELLO"), ("spk-rec-001", 2.48, 4.48, "WORLD")], seed=1)
    compute_feats(root, FeatureConfig())
    meta = dump_teacher(ckpt, root, tmp_path / "ctx", top_k=4, recording_context=True)
    assert meta["recording_context"] is True
    dump_teacher(ckpt, root, tmp_path / "alone", top_k=4)
    ctx, alone, feats = TeacherCache(tmp_path / "ctx"), TeacherCache(tmp_path / "alone"), FeatureCache(root)
    rec = Recognizer.from_checkpoint(ckpt)
    full = rec.logits(rec.features(sf.read(root / "spk-rec.wav", dtype="float32")[0])).log_softmax(-1).topk(4, dim=-1)
    for utt, first in (("spk-rec-000", 0), ("spk-rec-001", 62)):  # 2.48 s = output frame 62
        n = subsampled_length(feats.num_frames(utt))
        logp, ids = ctx[utt]
        assert logp.shape[0] == n == alone[utt][0].shape[0]  # the piece's own frame count
        assert torch.equal(ids, full.indices[first : first + n])
    assert not torch.equal(ctx["spk-rec-001"][0], alone["spk-rec-001"][0])  # context changed the teacher's view


def test_subword_units_through_teacher_cache_kd_and_export(data_dir, tmp_path):
    """BPE units end to end: teacher checkpoint, top-k cache sized to the vocabulary, KD student from the
    cache; the student's checkpoint and ONNX export carry the sentencepiece model and decode words."""
    from asr_kd.edge.recognizer import EdgeRecognizer
    from asr_kd.export import export

    compute_feats(data_dir, FeatureConfig())
    compute_cmvn(data_dir)
    units = Units.train_subwords(read_table(data_dir / "text").values(), vocab_size=30)
    units.write(data_dir / "units.txt")
    assert len(units) > 20 and units.model is not None
    torch.manual_seed(0)
    model = build_model("conformer_ctc", TEACHER, 80, len(units), load_cmvn(data_dir / "cmvn.json")).eval()
    ckpt = tmp_path / "teacher.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "conformer_ctc", TEACHER, units, FeatureConfig()), ckpt)
    meta = dump_teacher(ckpt, data_dir, tmp_path / "cache", top_k=len(units))  # the whole subword vocabulary
    assert meta["vocab"] == meta["top_k"] == len(units) and meta["units"] == units.symbols
    final = train(_student_kd(max_frames_per_batch=300), tmp_path / "exp", data_dir, data_dir / "units.txt",
                  data_dir / "cmvn.json", teacher_cache=tmp_path / "cache")
    recs = [json.loads(line) for line in (tmp_path / "exp" / "log" / "metrics.jsonl").read_text().splitlines()]
    assert recs and all(np.isfinite(r["kd"]) for r in recs if "kd" in r)
    _, loaded, _ = checkpoint.load_model(final)
    assert loaded.model == units.model and loaded.symbols == units.symbols
    rec = EdgeRecognizer(export(final, tmp_path / "s.onnx", "onnx"))
    assert rec.units.model == units.model
    ids = units.encode("HELLO WORLD")
    assert rec.result(ids, list(range(len(ids)))).words[1].text == "WORLD"
