import json

import pytest
import torch

from asr_kd import checkpoint
from asr_kd.config import ExperimentConfig, FeatureConfig, VTLPConfig
from asr_kd.data.dataset import Batch
from asr_kd.data.kaldi_dir import read_table
from asr_kd.data.tokens import Units
from asr_kd.features import compute_cmvn, compute_feats
from asr_kd.train import FINAL, _augment, train

TINY_STUDENT = {"hidden_size": 16, "num_layers": 1, "subsampling_channels": 8}
TINY_TEACHER = {"d_model": 16, "num_heads": 2, "ffn_dim": 32, "num_layers": 1, "conv_kernel_size": 3,
                "subsampling_channels": 4}


@pytest.fixture
def prepared(data_dir):
    compute_feats(data_dir, FeatureConfig())
    compute_cmvn(data_dir)
    Units.build(read_table(data_dir / "text").values()).write(data_dir / "units.txt")
    return data_dir


def _conf(model="rnn_ctc", model_conf=TINY_STUDENT, kd=None, **train_conf):
    tc = {"epochs": 2, "max_frames_per_batch": 300, "warmup_steps": 2, "log_interval": 1,
          "checkpoint_interval": 2, "num_threads": 1, **train_conf}
    return ExperimentConfig.from_dict({"model": model, "model_conf": model_conf, "train_conf": tc, "kd_conf": kd})


def _run(conf, d, exp, **kw):
    return train(conf, exp, d, d / "units.txt", d / "cmvn.json", dev_dir=d, **kw)


def test_training_writes_experiment_dir_and_lowers_loss(prepared, tmp_path):
    exp = tmp_path / "exp"
    final = _run(_conf(epochs=8, lr=0.01), prepared, exp)
    assert final == exp / FINAL
    for name in ("train.yaml", "last_state.pt", "train_summary.json", "log/train.log", "log/metrics.jsonl"):
        assert (exp / name).exists(), name
    model, units, _ = checkpoint.load_model(final)
    assert len(units) == len(Units.read(prepared / "units.txt"))
    recs = [json.loads(line) for line in (exp / "log" / "metrics.jsonl").read_text().splitlines()]
    dev = [r["dev_loss"] for r in recs if "dev_loss" in r]
    assert len(dev) == 8 and dev[-1] < dev[0]


def test_resume_after_crash_equals_uninterrupted_run(prepared, tmp_path, monkeypatch):
    conf = _conf(epochs=2)
    _run(conf, prepared, tmp_path / "a")
    reference = checkpoint.load(tmp_path / "a" / FINAL)["state_dict"]

    real_step, calls = torch.optim.AdamW.step, {"n": 0}

    def crashing_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        _run(conf, prepared, tmp_path / "b")
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    assert torch.load(tmp_path / "b" / "last_state.pt", weights_only=True)["step"] == 2
    _run(conf, prepared, tmp_path / "b", resume=True)
    resumed = checkpoint.load(tmp_path / "b" / FINAL)["state_dict"]
    for k in reference:
        assert torch.allclose(reference[k], resumed[k], atol=1e-6), k


def test_kd_training_with_frozen_teacher(prepared, tmp_path):
    teacher = _run(_conf("conformer_ctc", TINY_TEACHER, epochs=1), prepared, tmp_path / "teacher")
    before = checkpoint.load(teacher)["state_dict"]
    _run(_conf(kd={"weight": 0.5, "temperature": 2.0}, epochs=1), prepared, tmp_path / "kd", teacher_path=teacher)
    after = checkpoint.load(teacher)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    recs = [json.loads(line) for line in (tmp_path / "kd" / "log" / "metrics.jsonl").read_text().splitlines()]
    assert any("kd" in r for r in recs)
    with pytest.raises(ValueError, match="kd_conf"):
        _run(_conf(epochs=1), prepared, tmp_path / "x", teacher_path=teacher)


def test_teacher_with_intermediate_ctc_trains_on_the_mixed_loss(prepared, tmp_path):
    """model_conf.inter_ctc_layers: the loop logs the intermediate CTC and optimises (1 - w) * CTC + w * it;
    the saved model decodes as trained (self-conditioning included)."""
    conf = {**TINY_TEACHER, "num_layers": 2, "inter_ctc_layers": [1], "inter_ctc_weight": 0.4, "self_condition": True}
    final = _run(_conf("conformer_ctc", conf, epochs=1), prepared, tmp_path / "t")
    recs = [json.loads(line) for line in (tmp_path / "t" / "log" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "inter_ctc" in r]
    assert steps and all(r["loss"] == pytest.approx(0.6 * r["ctc"] + 0.4 * r["inter_ctc"], rel=1e-4) for r in steps)
    model, _, _ = checkpoint.load_model(final)
    assert model.condition is not None and model.inter_ctc_weight == 0.4


def test_vtlp_warps_each_utterance_inside_its_frames_and_leaves_the_batch_alone():
    """The student's copy is warped over each utterance's own frames (padding stays zero), the same under
    one seed; the batch the teacher reads is untouched."""
    feats = torch.zeros(2, 50, 80)
    feats[0], feats[1, :30] = torch.randn(50, 80), torch.randn(30, 80)
    batch = Batch(["a", "b"], feats, torch.tensor([50, 30]), torch.zeros(2, 1, dtype=torch.long), torch.ones(2))
    before = batch.feats.clone()
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(_augment(batch, None, VTLPConfig(enabled=True)))
    assert torch.equal(outs[0], outs[1]) and torch.equal(batch.feats, before)
    assert not torch.allclose(outs[0][0], before[0]) and not torch.allclose(outs[0][1, :30], before[1, :30])
    assert torch.equal(outs[0][1, 30:], torch.zeros(20, 80))
    assert _augment(batch, None, VTLPConfig()) is batch.feats


def test_kd_with_vtlp_trains_the_student_on_warped_features(prepared, tmp_path):
    teacher = _run(_conf("conformer_ctc", TINY_TEACHER, epochs=1), prepared, tmp_path / "teacher")
    weights = {}
    for name, enabled in (("plain", False), ("vtlp", True), ("vtlp_again", True)):
        conf = _conf(kd={"weight": 0.5}, epochs=1)
        conf.specaug_conf.enabled, conf.vtlp_conf.enabled = False, enabled
        weights[name] = checkpoint.load(_run(conf, prepared, tmp_path / name, teacher_path=teacher))["state_dict"]
        recs = [json.loads(line) for line in (tmp_path / name / "log" / "metrics.jsonl").read_text().splitlines()]
        assert any("kd" in r for r in recs)
    assert all(torch.equal(weights["vtlp"][k], weights["vtlp_again"][k]) for k in weights["vtlp"])
    assert not all(torch.equal(weights["vtlp"][k], weights["plain"][k]) for k in weights["vtlp"])


def test_non_finite_loss_skips_the_batch(prepared, tmp_path, monkeypatch):
    import asr_kd.train as train_module

    real, calls = train_module.ctc_kd_loss, {"n": 0}

    def nan_once(*a, **k):
        loss, parts = real(*a, **k)
        calls["n"] += 1
        return (loss * float("nan"), parts) if calls["n"] == 1 else (loss, parts)

    monkeypatch.setattr(train_module, "ctc_kd_loss", nan_once)
    _run(_conf(epochs=1), prepared, tmp_path / "exp")
    summary = json.loads((tmp_path / "exp" / "train_summary.json").read_text())
    assert summary["steps"] == calls["n"] - 1
    assert "non-finite loss" in (tmp_path / "exp" / "log" / "train.log").read_text()


def test_teacher_ensemble_averages_posteriors():
    from asr_kd.models import build_model
    from asr_kd.models.ensemble import TeacherEnsemble

    torch.manual_seed(0)
    a, b = (build_model("rnn_ctc", TINY_STUDENT, 80, 7).eval() for _ in range(2))
    x, lens = torch.randn(2, 60, 80), torch.tensor([60, 40])
    with torch.no_grad():
        mix, n = TeacherEnsemble([a, b], [3.0, 1.0])(x, lens)
        pa, pb = a(x, lens)[0].softmax(-1), b(x, lens)[0].softmax(-1)
    torch.testing.assert_close(mix.exp(), 0.75 * pa + 0.25 * pb, atol=1e-6, rtol=1e-5)
    assert torch.equal(n, a(x, lens)[1])
    with pytest.raises(ValueError, match="one non-negative weight"):
        TeacherEnsemble([a, b], [1.0])


def test_kd_from_two_teachers(prepared, tmp_path):
    t1 = _run(_conf("conformer_ctc", TINY_TEACHER, epochs=1), prepared, tmp_path / "t1")
    t2 = _run(_conf("conformer_ctc", TINY_TEACHER, epochs=1, seed=1), prepared, tmp_path / "t2")
    _run(_conf(kd={"weight": 0.5}, epochs=1), prepared, tmp_path / "kd", teacher_path=[t1, t2],
         teacher_weights=[0.5, 0.5])
    assert "t2" in (tmp_path / "kd" / "train.yaml").read_text()


def test_init_starts_from_a_checkpoints_weights(prepared, tmp_path):
    first = _run(_conf(epochs=1), prepared, tmp_path / "a")
    again = _run(_conf(epochs=0), prepared, tmp_path / "b", init=first)  # no steps: the init weights as they are
    a, b = checkpoint.load(first)["state_dict"], checkpoint.load(again)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="do not fit"):
        _run(_conf(epochs=0, model_conf={**TINY_STUDENT, "hidden_size": 8}), prepared, tmp_path / "c", init=first)


def test_summary_counts_only_the_audio_trained_on(prepared, tmp_path):
    _run(_conf(epochs=2), prepared, tmp_path / "full")
    _run(_conf(epochs=2, max_steps=2), prepared, tmp_path / "cut")  # 4 batches per epoch: stops half-way through 1
    full, cut = (json.loads((tmp_path / n / "train_summary.json").read_text()) for n in ("full", "cut"))
    assert full["audio_hours_trained"] == pytest.approx(2 * full["audio_hours_per_epoch"], abs=1e-3)
    assert cut["steps"] == 2 and cut["audio_hours_trained"] == pytest.approx(cut["audio_hours_per_epoch"] / 2, abs=1e-3)


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 2 workers on a 1-core runner
def test_on_the_fly_features_and_workers_train_as_the_cache(prepared, tmp_path):
    """Same batches, same features: an epoch from the cache, one computed from the audio in 2 loader
    workers, and the cache read by 2 workers give the same weights (augmentation off, padding on)."""
    base = {"epochs": 1, "pad_silence_s": 0.2}
    runs = {"cache": {}, "fly_workers": {"on_the_fly": True, "num_workers": 2},
            "cache_workers": {"num_workers": 2, "prefetch_factor": 1}}
    weights = {}
    for name, extra in runs.items():
        conf = _conf(**base, **extra)
        conf.specaug_conf.enabled = False
        weights[name] = checkpoint.load(_run(conf, prepared, tmp_path / name))["state_dict"]
        summary = json.loads((tmp_path / name / "train_summary.json").read_text())
        assert summary["steps"] > 2
    for name in ("fly_workers", "cache_workers"):
        assert all(torch.equal(weights["cache"][k], weights[name][k]) for k in weights["cache"]), name


def test_on_the_fly_features_equal_the_cache(prepared):
    from asr_kd.features import AudioFeatures, FeatureCache

    cache, audio = FeatureCache(prepared), AudioFeatures(prepared, FeatureConfig())
    assert set(cache.index) == set(audio.index)
    for utt in cache.index:
        assert audio.num_frames(utt) == cache.num_frames(utt)
        assert (audio[utt] == cache[utt]).all()


def test_on_the_fly_refuses_pipes_in_one_line(prepared):
    from asr_kd.data.kaldi_dir import DataDirError
    from asr_kd.features import AudioFeatures

    scp = (prepared / "wav.scp").read_text().splitlines()
    utt, path = scp[0].split(" ", 1)
    (prepared / "wav.scp").write_text("\n".join([f"{utt} cat {path} |"] + scp[1:]) + "\n")
    with pytest.raises(DataDirError, match=f"{utt}.*command pipe"):  # a pipe has no header to count frames from
        AudioFeatures(prepared, FeatureConfig())


@pytest.mark.parametrize("native", [True, False])
def test_cpu_amp_trains_in_bf16_only_where_the_cpu_has_it(prepared, tmp_path, monkeypatch, native):
    """train_conf.cpu_amp: bf16 autocast on a CPU with native bf16 (other weights than float32, still
    learning), float32 and a warning on one without (the same weights as cpu_amp off)."""
    import asr_kd.train as train_module
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: native)
    conf = dict(model="conformer_ctc", model_conf=TINY_TEACHER, epochs=3, lr=0.01)
    _run(_conf(**conf), prepared, tmp_path / "fp32")
    _run(_conf(**conf, cpu_amp=True), prepared, tmp_path / "amp")
    a, b = (checkpoint.load(tmp_path / n / FINAL)["state_dict"] for n in ("fp32", "amp"))
    same = all(torch.equal(a[k], b[k]) for k in a)
    log = (tmp_path / "amp" / "log" / "train.log").read_text()
    assert same is not native
    assert ("(bf16 autocast)" in log) is native and ("no native bf16" in log) is not native
    recs = [json.loads(line) for line in (tmp_path / "amp" / "log" / "metrics.jsonl").read_text().splitlines()]
    dev = [r["dev_loss"] for r in recs if "dev_loss" in r]
    assert dev[-1] < dev[0]
