"""data_prep.synth: deterministic disjoint plans, every engine, and a tiny real corpus that
reloads, validates, reruns as a no-op and resumes only what is missing."""

import logging
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from asr_kd.data.kaldi_dir import load_data_dir, read_table
from asr_kd.data.validate import validate_data_dir
from data_prep import synth
from data_prep.text_sources import load_sentences

SENTENCES = [f"SENTENCE NUMBER {i} SAYS {'AB' * (i % 7 + 1)}" for i in range(3000)]
VOICES = {spk: ("espeak-ng", "en-us+m1") for spk in synth.DEV_SPEAKERS + synth.TEST_SPEAKERS}
VOICES |= {"espeak_train_a": ("espeak-ng", "en-gb+f1"), "flite_train_b": ("flite", "awb"),
           "festival_train_c": ("festival", "kal_diphone")}
TINY = ["--hours", "0.005", "--eval-utts-per-spk", "1", "--unlab-hours", "0.003",
        "--long-recordings", "1", "--long-minutes", "0.1,0.1", "--nj", "2"]


def _plan(seed=0, **kw):
    kw = {"hours": 0.5, "eval_utts_per_spk": 5, "unlab_hours": 0.3, "long_recordings": 3,
          "long_minutes": (0.5, 1.0)} | kw
    return synth.make_plan(SENTENCES, VOICES, seed=seed, **kw)


def _by_split(plan):
    splits = {}
    for u in plan:
        splits.setdefault(u.split, []).append(u)
    return splits


def test_plan_is_deterministic_from_seed():
    assert _plan(0) == _plan(0)
    assert _plan(0)[0] != _plan(1)[0]
    # Growing train or long-form only appends; the untranscribed pool never moves train.
    small, big = _by_split(_plan()[0]), _by_split(_plan(hours=1.0, long_recordings=4)[0])
    assert big["train"][:len(small["train"])] == small["train"]
    assert big["test_long"][:len(small["test_long"])] == small["test_long"]
    assert _by_split(_plan(unlab_hours=0.6)[0])["train"] == small["train"]


def test_sentence_pools_are_disjoint():
    texts = {split: {u.text for u in utts} for split, utts in _by_split(_plan()[0]).items()}
    assert set(texts) == {"dev", "test", "train", "train_unlab", "test_long"}
    for a in ("dev", "test", "train", "train_unlab"):
        for b in ("dev", "test", "train", "train_unlab"):
            assert a == b or not texts[a] & texts[b], (a, b)
    assert not texts["test_long"] & (texts["dev"] | texts["train"] | texts["train_unlab"])
    assert len(texts["test_long"]) > len(texts["test"])  # drawn from the whole test pool
    with pytest.raises(synth.SynthError, match="unlab-hours"):
        _plan(unlab_hours=5)


def test_held_out_speakers_stay_out_of_train():
    plan, recordings = _plan()
    splits = {split: {u.spk for u in utts} for split, utts in _by_split(plan).items()}
    held_out = set(synth.DEV_SPEAKERS) | set(synth.TEST_SPEAKERS)
    assert not set(synth.DEV_SPEAKERS) & set(synth.TEST_SPEAKERS)
    assert not (splits["train"] | splits["train_unlab"]) & held_out
    assert splits["train_unlab"] == splits["train"] == set(VOICES) - held_out
    assert splits["test_long"] <= set(synth.TEST_SPEAKERS)
    assert [r.spk for r in recordings] == list(synth.TEST_SPEAKERS[:3])
    for rec in recordings:
        assert all(0.3 <= p <= 1.5 for p in rec.pauses)
        assert sum(u.est_seconds() + p for u, p in zip(rec.utts, rec.pauses)) >= 30


@pytest.mark.parametrize("spk", ["espeak_en_us_f4", "flite_rms", "festival_kal", "festival_slt_hts"])
def test_every_engine_renders_16k_pcm(spk, tmp_path):
    voices = synth.available_speakers()
    if spk not in voices:
        pytest.skip(f"{spk} not installed")
    for i, text in enumerate(["HELLO THERE HOW ARE YOU", "IT'S A FINE DAY"]):  # festival: reused process
        utt = synth._make_utt("train", f"{spk}-{i:06d}", spk, text, voices, 0)
        assert synth.render((utt, synth.wav_path(tmp_path, utt))) == (utt.utt_id, True)
        info = sf.info(str(synth.wav_path(tmp_path, utt)))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 0.5 < info.duration < 5


@pytest.fixture(scope="module")
def sentences():
    """The installed text, loaded once for the module (each load takes seconds)."""
    return load_sentences()


def _run_tiny(out: Path) -> None:
    assert synth.main(["--out", str(out), *TINY]) == 0


@pytest.fixture
def tiny(tmp_path_factory, sentences, monkeypatch) -> Path:
    """A tiny real corpus, synthesised on first use and shared by the tests of this module."""
    monkeypatch.setattr(synth, "load_sentences", lambda: sentences)
    out = tmp_path_factory.getbasetemp() / "tiny"
    if not out.exists():
        _run_tiny(out)
    return out


def test_web_bible_text_is_clean(sentences):
    if shutil.which("mod2imp") is None:
        pytest.skip("sword-text-web / libsword-utils not installed")
    assert ("FOR GOD SO LOVED THE WORLD THAT HE GAVE HIS ONLY BORN SON THAT WHOEVER BELIEVES IN "
            "HIM SHOULD NOT PERISH BUT HAVE ETERNAL LIFE") in sentences  # footnote removed
    assert not any(s.startswith("CHERUB A CHERUB") for s in sentences)  # glossary removed


def test_tiny_run_writes_loadable_dirs(tiny):
    out = tiny
    for split in ("train", "dev", "test", "test_long"):
        assert load_data_dir(out / split) and validate_data_dir(out / split) == []
    assert not (out / "train_unlab" / "text").exists()
    unlab = load_data_dir(out / "train_unlab", require_text=False)
    assert unlab and all(u.text is None for u in unlab)
    assert validate_data_dir(out / "train_unlab") == []
    train_spks = {u.spk for u in load_data_dir(out / "train")}
    assert {u.spk for u in unlab} <= train_spks


def test_long_recording_segments_and_reference(tiny):
    out = tiny
    utts = load_data_dir(out / "test_long")
    reco2text = read_table(out / "test_long" / "reco2text")
    wav_scp = read_table(out / "test_long" / "wav.scp")
    assert list(wav_scp) == list(reco2text) == ["espeak_en_gb_scotland_m2-long00"]
    for reco, path in wav_scp.items():
        info = sf.info(path)
        assert (info.samplerate, info.subtype) == (16000, "PCM_16")
        segs = [u for u in utts if u.utt.startswith(f"{reco}-")]  # ids sort in recording order
        assert len(segs) >= 2 and all(u.path == path for u in segs)
        for prev, cur in zip(segs, segs[1:]):
            assert prev.end + 0.3 <= cur.start  # in order, with a pause between
        assert 0 <= segs[0].start and segs[-1].end + 0.3 <= info.duration
        assert reco2text[reco] == " ".join(u.text for u in segs)


def _snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_rerun_is_a_no_op(tiny, caplog):
    out = tiny
    before = _snapshot(out)
    with caplog.at_level(logging.INFO, logger=synth.__name__):
        _run_tiny(out)
    assert "0 to synthesise" in caplog.text
    after = _snapshot(out)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert {k: v for k, v in after.items() if k.endswith(".wav")} == \
           {k: v for k, v in before.items() if k.endswith(".wav")}  # audio not even rewritten


def test_resume_renders_only_the_missing_wav(tiny, caplog):
    out = tiny
    victim = Path(load_data_dir(out / "train")[0].path)
    before = _snapshot(out)
    victim.unlink()
    with caplog.at_level(logging.INFO, logger=synth.__name__):
        _run_tiny(out)
    assert "1 to synthesise" in caplog.text
    after = _snapshot(out)
    assert after.keys() == before.keys()
    for name, (data, mtime) in after.items():
        assert data == before[name][0], name
        if name.endswith(".wav") and name != str(victim.relative_to(out)):
            assert mtime == before[name][1], name
