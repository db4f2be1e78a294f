from pathlib import Path

import pytest

from asr_kd.config import AugmentConfig, ConfigError, ExperimentConfig

CONF = Path(__file__).resolve().parents[1] / "egs" / "synth" / "s0" / "conf"


def test_all_recipe_configs_load():
    paths = sorted(CONF.rglob("*.yaml"))
    augment = [p for p in paths if p.name == "augment.yaml" or p.parent.name == "augment_test"]
    assert len(augment) == 4
    for path in augment:
        AugmentConfig.load(path)
    paths = [p for p in paths if p not in augment]
    assert len(paths) >= 7
    for path in paths:
        conf = ExperimentConfig.load(path)
        assert (conf.kd_conf is not None) == ("_kd" in path.name)


def test_unknown_keys_are_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("model: rnn_ctc\ntrain_conf:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"train_conf: unknown key\(s\) \['epoch'\]"):
        ExperimentConfig.load(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("model: rnn_ctc\nmodle_conf: {}\n")
    with pytest.raises(ConfigError, match="modle_conf"):
        ExperimentConfig.load(tmp_path / "b.yaml")


def test_defaults_live_in_dataclasses():
    conf = ExperimentConfig.from_dict({"model": "rnn_ctc", "train_conf": {"epochs": 3}})
    assert conf.train_conf.epochs == 3 and conf.train_conf.lr == 1e-3 and conf.feature_conf.num_mel_bins == 80
    assert ExperimentConfig.from_dict(conf.to_dict()) == conf


def test_overrides(tmp_path):
    (tmp_path / "a.yaml").write_text("model: rnn_ctc\ntrain_conf:\n  epochs: 3\n")
    conf = ExperimentConfig.load(tmp_path / "a.yaml", ["train_conf.lr=0.01", "model_conf.hidden_size=8"])
    assert conf.train_conf.epochs == 3 and conf.train_conf.lr == 0.01 and conf.model_conf == {"hidden_size": 8}
    with pytest.raises(ConfigError, match="unknown key"):
        ExperimentConfig.load(tmp_path / "a.yaml", ["train_conf.lrr=1"])
    with pytest.raises(ConfigError, match="section.key=value"):
        ExperimentConfig.load(tmp_path / "a.yaml", ["epochs=1"])
