import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_kd import augment, checkpoint
from asr_kd.augment import CopyPlan, apply_plan, augment_data_dir
from asr_kd.cli import main
from asr_kd.config import AugmentConfig, ConfigError, FeatureConfig
from asr_kd.data.kaldi_dir import Utterance, read_table
from asr_kd.data.tokens import Units
from asr_kd.data.validate import validate_data_dir
from asr_kd.features import compute_cmvn, compute_feats, fbank, load_cmvn
from asr_kd.models import build_model
from asr_kd.teacher_cache import TeacherCache, dump_teacher

CONF = Path(__file__).resolve().parents[1] / "egs" / "synth" / "s0" / "conf"
SR = 16000
CLEAN = CopyPlan("u", "s", 1.0, None, None, 0.0, (), None, 0.0, False, 0)  # nothing applied


def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(SR * seconds))).astype(np.float32)


def _band_db(out: np.ndarray, ref: np.ndarray, lo: float, hi: float) -> float:
    """Energy of `out` over that of `ref` in [lo, hi) Hz, in dB (FFT)."""
    freqs = np.fft.rfftfreq(len(ref), 1 / SR)
    band = (freqs >= lo) & (freqs < hi)
    return 10 * np.log10((np.abs(np.fft.rfft(out))[band] ** 2).sum() / (np.abs(np.fft.rfft(ref))[band] ** 2).sum())


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean).astype(np.float64) ** 2))


def test_speed_changes_the_length_and_everything_else_keeps_it():
    x = _noise(1.3)
    for factor in (0.9, 1.1):
        assert abs(len(augment.speed_perturb(x, factor)) - len(x) / factor) <= 2
    rir = augment.synthetic_rir(0.4, 5.0, np.random.default_rng(0))
    noise = augment.coloured_noise(len(x), 1.0, np.random.default_rng(0))
    for y in (augment.pitch_shift(x, -1.3), augment.reverberate(x, rir), augment.telephone(x),
              augment.add_noise(x, noise, 10.0)):
        assert y.shape == x.shape and y.dtype == np.float32 and not np.allclose(y, x)


def test_pitch_shift_moves_a_tone_by_the_semitones():
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    for semitones in (-3.0, 12.0):
        peak = freqs[np.argmax(np.abs(np.fft.rfft(augment.pitch_shift(tone, semitones))))]
        assert peak == pytest.approx(440 * 2 ** (semitones / 12), abs=2.0)


def test_coloured_noise_has_its_slope_and_noise_lands_at_the_requested_snr():
    rng = np.random.default_rng(0)
    flat = augment.coloured_noise(SR, 0.0, rng)
    tilts = [_band_db(augment.coloured_noise(SR, beta, rng), flat, 100, 200)
             - _band_db(augment.coloured_noise(SR, beta, rng), flat, 4000, 8000) for beta in (0.0, 1.0, 2.0)]
    assert abs(tilts[0]) < 1 and 12 < tilts[1] < 20 and 26 < tilts[2] < 40  # 10*beta*log10(~4400/150)
    x = _noise(1.0)
    talkers = [_noise(0.7, seed) for seed in (1, 2, 3)]
    for noise in (augment.coloured_noise(len(x), 2.0, rng), augment.babble(talkers, len(x), rng)):
        for snr in (0.0, 10.0, 17.3):
            assert _snr_db(x, augment.add_noise(x, noise, snr)) == pytest.approx(snr, abs=0.5)


def test_synthetic_room_has_its_rt60_and_does_not_delay_the_audio():
    for rt60 in (0.3, 0.8):
        tail = augment.synthetic_rir(rt60, 0.0, np.random.default_rng(1))[1:]  # (L - 1,) after the direct path
        decay = 10 * np.log10(np.cumsum(tail[::-1] ** 2)[::-1] / np.sum(tail**2))  # Schroeder energy decay, dB
        t20 = (np.argmax(decay <= -25) - np.argmax(decay <= -5)) / SR
        assert 3 * t20 == pytest.approx(rt60, rel=0.1)
    x = _noise(1.0)
    y = augment.reverberate(x, augment.synthetic_rir(0.8, 0.0, np.random.default_rng(0)))
    assert y.shape == x.shape and not np.allclose(y, x)
    assert np.argmax(np.abs(np.correlate(y, x, "full"))) - (len(x) - 1) == 0  # peak at lag 0: no delay


def test_telephone_keeps_300_to_3400_hz_only():
    x = _noise(2.0)
    y = augment.telephone(x)
    assert _band_db(y, x, 3400, 8000) < -20 and _band_db(y, x, 0, 250) < -15
    assert abs(_band_db(y, x, 500, 3000)) < 1


def test_loud_copies_are_scaled_below_clipping():
    tone = (0.95 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)).astype(np.float32)
    plan = dataclasses.replace(CLEAN, noise="white", snr_db=0.0, rt60=0.5, drr_db=0.0)
    y = apply_plan(plan, tone)
    assert np.abs(y).max() == pytest.approx(augment.PEAK, abs=1e-6) and y.shape == tone.shape


def _wavs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.wav"))}


def test_copies_are_deterministic_under_a_seed_and_resumable(data_dir, tmp_path):
    conf = AugmentConfig(copies=2, pitch_prob=0.5, noise_prob=0.7, babble_prob=0.5, reverb_prob=0.5,
                         telephone_prob=0.3, seed=3)
    assert augment_data_dir(data_dir, tmp_path / "a", conf) == {"utterances": 12, "written": 12}
    augment_data_dir(data_dir, tmp_path / "b", conf, nj=2)  # worker processes: the same bytes
    augment_data_dir(data_dir, tmp_path / "c", dataclasses.replace(conf, seed=4))
    a = _wavs(tmp_path / "a")
    assert len(a) == 12 and a == _wavs(tmp_path / "b") and a != _wavs(tmp_path / "c")
    log = (tmp_path / "a" / "utt2aug").read_text()
    assert log == (tmp_path / "b" / "utt2aug").read_text() and "babble" in log and "speed=" in log
    (tmp_path / "a" / "wav" / "aug2-spkb-001.wav").unlink()  # an interrupted run: redo only what is missing
    assert augment_data_dir(data_dir, tmp_path / "a", conf)["written"] == 1 and _wavs(tmp_path / "a") == a
    with pytest.raises(ValueError, match="other settings.*seed: 3 -> 4"):
        augment_data_dir(data_dir, tmp_path / "a", dataclasses.replace(conf, seed=4))
    record = tmp_path / "a" / "augment_conf.json"  # written before `fraction` existed: it was 1.0
    record.write_text(json.dumps({k: v for k, v in json.loads(record.read_text()).items() if k != "fraction"}))
    assert augment_data_dir(data_dir, tmp_path / "a", conf)["written"] == 0
    with pytest.raises(ValueError, match="other settings.*fraction: 1.0 -> 0.5"):
        augment_data_dir(data_dir, tmp_path / "a", dataclasses.replace(conf, fraction=0.5))


def test_fraction_copies_a_seeded_nested_share_and_leaves_their_plans_as_they_were():
    utts = [Utterance(f"u{i:04d}", "s", "x.wav") for i in range(2000)]
    full = AugmentConfig(noise_prob=0.5, reverb_prob=0.5, seed=1)
    kept = {}
    for fraction in (0.3, 0.6, 1.0):
        conf = dataclasses.replace(full, fraction=fraction)
        kept[fraction] = {u.utt: augment.plan_copies(conf, u, utts[:10]) for u in utts}
        kept[fraction] = {k: v for k, v in kept[fraction].items() if v}
        assert len(kept[fraction]) / len(utts) == pytest.approx(fraction, abs=0.03)
    assert set(kept[0.3]) < set(kept[0.6]) < set(kept[1.0])  # one draw per utterance: nested shares
    assert all(kept[0.3][k] == kept[1.0][k] for k in kept[0.3])
    with pytest.raises(ConfigError, match="fraction must be in"):
        AugmentConfig(fraction=0.0)


def test_cli_writes_a_valid_data_dir_of_prefixed_copies(data_dir, tmp_path, capsys):
    out = tmp_path / "aug"
    assert main(["augment-data", "--data", str(data_dir), "--out", str(out),
                 "--config", str(CONF / "augment.yaml"), "--set", "noise_prob=1.0", "--set", "copies=2", "--set", "fraction=1.0"]) == 0
    assert "12 augmented utterance(s)" in capsys.readouterr().out
    assert validate_data_dir(out) == []
    text, src = read_table(out / "text"), read_table(data_dir / "text")
    assert text == {f"aug{k}-{u}": t for u, t in src.items() for k in (1, 2)}
    assert set(read_table(out / "spk2utt")) == {f"aug{k}-spk{s}" for s in "abc" for k in (1, 2)}
    log = read_table(out / "utt2aug")
    assert set(log) == set(text) and all("noise=" in v for v in log.values())
    for utt, seconds in read_table(out / "utt2dur").items():
        assert sf.info(str(out / "wav" / f"{utt}.wav")).duration == pytest.approx(float(seconds), abs=1e-3)
        speed = float(log[utt].split("speed=")[1].split()[0]) if "speed=" in log[utt] else 1.0
        clean = sf.info(str(data_dir / "wav" / f"{utt.split('-', 1)[1]}.wav")).frames
        assert abs(sf.info(str(out / "wav" / f"{utt}.wav")).frames - clean / speed) <= 2
    assert main(["augment-data", "--data", str(data_dir), "--out", str(tmp_path / "x"), "--set", "snr_db=[20, 5]"]) == 1
    assert "snr_db must be [lo, hi]" in capsys.readouterr().err


def test_robustness_presets_keep_the_ids_and_add_noise_at_exactly_their_snr(data_dir, tmp_path):
    for name, snr in (("noise10", 10.0), ("noise0", 0.0)):
        out = tmp_path / name
        augment_data_dir(data_dir, out, AugmentConfig.load(CONF / "augment_test" / f"{name}.yaml"))
        assert read_table(out / "utt2spk") == read_table(data_dir / "utt2spk")
        assert read_table(out / "text") == read_table(data_dir / "text")
        log = read_table(out / "utt2aug")
        assert {v.split("@")[0] for v in log.values()} >= {"noise=babble"} and len(set(log.values())) > 1
        for utt in log:
            clean, noisy = sf.read(data_dir / "wav" / f"{utt}.wav")[0], sf.read(out / "wav" / f"{utt}.wav")[0]
            assert _snr_db(clean, noisy) == pytest.approx(snr, abs=0.5)
    conf = AugmentConfig.load(CONF / "augment_test" / "reverb.yaml")
    assert (conf.copies, conf.prefix_ids, conf.speeds, conf.noise_prob, conf.reverb_prob) == (1, False, [], 0.0, 1.0)


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    assert AugmentConfig.load(None, ["copies=3", "speeds=[1.0]"]).copies == 3
    with pytest.raises(ConfigError, match="unknown key"):
        AugmentConfig.load(None, ["snr=5"])
    with pytest.raises(ConfigError, match="needs copies: 1"):
        AugmentConfig(copies=2, prefix_ids=False)
    with pytest.raises(ConfigError, match="noise_prob must be in"):
        AugmentConfig(noise_prob=1.5)


TEACHER = {"d_model": 16, "num_heads": 2, "ffn_dim": 32, "num_layers": 1, "conv_kernel_size": 3,
           "subsampling_channels": 4}


def test_teacher_cache_of_combined_data_holds_posteriors_of_the_perturbed_audio(data_dir, tmp_path):
    aug = tmp_path / "aug"
    augment_data_dir(data_dir, aug, AugmentConfig(speeds=[1.1], noise_prob=1.0, snr_db=[15.0, 15.0]))
    combined = tmp_path / "train_comb"
    assert main(["combine-data", str(combined), str(data_dir), str(aug)]) == 0
    compute_feats(combined, FeatureConfig())
    compute_cmvn(combined)
    units = Units.build(read_table(combined / "text").values())
    torch.manual_seed(0)
    model = build_model("conformer_ctc", TEACHER, 80, len(units), load_cmvn(combined / "cmvn.json")).eval()
    ckpt = tmp_path / "teacher.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "conformer_ctc", TEACHER, units, FeatureConfig()), ckpt)
    dump_teacher(ckpt, combined, tmp_path / "cache", top_k=4)
    cache = TeacherCache(tmp_path / "cache")

    def teacher(wav: Path):
        feats = fbank(torch.from_numpy(sf.read(wav, dtype="float32")[0]), FeatureConfig())  # (T, 80)
        with torch.no_grad():
            logits, n = model(feats[None], torch.tensor([len(feats)]))
        return logits[0, : n.item()].log_softmax(-1).topk(4, dim=-1)

    copy, original = teacher(aug / "wav" / "aug1-spka-001.wav"), teacher(data_dir / "wav" / "spka-001.wav")
    logp, ids = cache["aug1-spka-001"]
    assert torch.equal(ids, copy.indices)
    torch.testing.assert_close(logp, copy.values, atol=2e-2, rtol=1e-2)  # fp16 storage
    assert logp.shape[0] < cache["spka-001"][0].shape[0] == original.values.shape[0]  # 1.1x faster: fewer frames
