import json

import numpy as np
import pytest
import torch
import torchaudio

from asr_kd.config import ConfigError, FeatureConfig, SpecAugConfig, VTLPConfig
from asr_kd.data.audio import load_audio
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.features import (
    FeatureCache,
    compute_cmvn,
    compute_feats,
    fbank,
    load_cmvn,
    make_specaug,
    vtlp,
)
from asr_kd.framing import num_frames


def test_fbank_shape_matches_num_frames():
    conf = FeatureConfig()
    for n in (400, 401, 559, 560, 16000):
        feats = fbank(torch.randn(n) * 0.1, conf)
        assert feats.shape == (num_frames(n, conf), 80)
    assert num_frames(399, conf) == 0


def test_feature_cache_and_cmvn(data_dir):
    total, skipped, cut = compute_feats(data_dir, FeatureConfig())
    assert cut == 0
    assert skipped == {}
    cache = FeatureCache(data_dir)
    utts = load_data_dir(data_dir)
    assert total == sum(cache.num_frames(u.utt) for u in utts)
    direct = fbank(torch.from_numpy(load_audio(utts[1].path)), FeatureConfig()).numpy()
    np.testing.assert_allclose(cache[utts[1].utt], direct, atol=0.02)  # float16 storage
    stats = compute_cmvn(data_dir)
    assert stats["frames"] == total
    everything = np.concatenate([cache[u.utt] for u in utts])
    np.testing.assert_allclose(stats["mean"], everything.mean(0), atol=1e-3)
    cmvn = load_cmvn(data_dir / "cmvn.json")
    normed = cmvn(torch.from_numpy(everything))
    assert normed.mean(0).abs().max() < 1e-3 and (normed.std(0) - 1).abs().max() < 1e-2
    assert json.loads((data_dir / "cmvn.json").read_text())["frames"] == total


def test_missing_cache_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="compute-feats"):
        FeatureCache(tmp_path)


def test_specaugment_masks_and_can_be_disabled():
    assert make_specaug(SpecAugConfig(enabled=False)) is None
    torch.manual_seed(0)
    aug = make_specaug(SpecAugConfig(num_time_masks=0, freq_mask_width=20))
    x = torch.randn(80, 300)
    y = aug(x)
    changed_rows = (y != x).any(1).sum().item()
    assert 0 < changed_rows <= 40


def _vowel(f0=120.0, formants=(700.0, 1200.0, 2600.0), seconds=0.5):
    """A vowel-like (S,) waveform: harmonics of f0 weighted by resonances at `formants`."""
    t = torch.arange(int(16000 * seconds)) / 16000
    wave = torch.zeros_like(t)
    for h in torch.arange(f0, 7800.0, f0):
        gain = sum(1 / (1 + ((h - f) / 100) ** 2) for f in formants)
        wave += gain * torch.sin(2 * torch.pi * h * t)
    return 0.3 * wave / wave.abs().max()


@pytest.mark.parametrize("factor", [0.9, 1.12])
def test_vtlp_approximates_kaldi_vtln_warp(factor):
    wave = _vowel()
    plain = fbank(wave, FeatureConfig())
    kaldi = torchaudio.compliance.kaldi.fbank(wave.unsqueeze(0) * 32768.0, num_mel_bins=80, dither=0.0,
                                              energy_floor=0.0, vtln_warp=factor)
    warped = vtlp(plain, factor)
    assert warped.shape == plain.shape
    # the warp moves the features as far as Kaldi's warped filters do; what is left is interpolation
    assert (warped - kaldi).abs().mean() < 0.25 * (plain - kaldi).abs().mean()
    torch.testing.assert_close(vtlp(plain, 1.0), plain)


def test_vtlp_factor_above_one_moves_a_tone_up():
    t = torch.arange(8000) / 16000
    feats = fbank(0.3 * torch.sin(2 * torch.pi * 1000.0 * t), FeatureConfig())  # (T, 80)
    peak = feats.mean(0).argmax().item()
    assert vtlp(feats, 1.1).mean(0).argmax().item() > peak > vtlp(feats, 0.9).mean(0).argmax().item()


@pytest.mark.parametrize("bad", [{"min_factor": 1.2, "max_factor": 1.1}, {"min_factor": 0.1},
                                 {"max_factor": "x"}])
def test_vtlp_config_rejects_bad_factors(bad):
    with pytest.raises(ConfigError, match="vtlp_conf"):
        VTLPConfig(**bad)


def test_recognizer_features_in_blocks_equal_one_pass():
    from asr_kd.recognizer import Recognizer

    rec = Recognizer.__new__(Recognizer)
    rec.feature_conf, rec.device = FeatureConfig(), torch.device("cpu")
    for n in (400, 401, 16000 * 3 + 123, 16000 * 7):
        wave = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
        whole = fbank(torch.from_numpy(wave), FeatureConfig())
        blocked = rec.features(wave, block_frames=97)
        assert blocked.shape == whole.shape
        torch.testing.assert_close(blocked, whole, atol=1e-4, rtol=1e-4)
