"""data_prep.synth: deterministic disjoint plans, a person-level split, a held-out engine and
text source, and a tiny real corpus that reloads, validates, reruns as a no-op, resumes only what
is missing and is written without a missing engine."""

import logging
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from asr_kd.data.kaldi_dir import load_data_dir, read_table
from asr_kd.data.validate import validate_data_dir
from data_prep import synth
from data_prep.engines import ENGINES, est_seconds

ALL = {s.spk: s for e in ENGINES.values() for s in e.SPEAKERS}
SENTENCES = [f"SENTENCE NUMBER {i} SAYS {'AB' * (i % 7 + 1)}" for i in range(3000)]
UNSEEN = [f"HELD OUT LINE {i}" for i in range(500)]
TRAIN = ("espeak_en_gb_f1", "flite_awb", "festival_kal", "kokoro_jf_alpha", "kokoro_jf_alpha30_jm_kumo70")
VOICES = {spk: ALL[spk] for spk in synth.DEV_SPEAKERS + synth.TEST_SPEAKERS + TRAIN}
VOICES |= {s.spk: s for s in ENGINES["rhvoice"].SPEAKERS}
TINY = ["--hours", "0.005", "--eval-utts-per-spk", "1", "--unlab-hours", "0.003",
        "--long-recordings", "1", "--long-minutes", "0.1,0.1", "--kokoro-hours", "0", "--nj", "2"]


def _plan(seed=0, voices=VOICES, **kw):
    kw = {"hours": 0.5, "eval_utts_per_spk": 5, "unlab_hours": 0.3, "long_recordings": 3,
          "long_minutes": (0.5, 1.0), "kokoro_hours": 0.05, "unseen_sentences": UNSEEN} | kw
    return synth.make_plan(SENTENCES, voices, seed=seed, **kw)


def _by_split(plan):
    splits = {}
    for u in plan:
        splits.setdefault(u.split, []).append(u)
    return splits


def test_plan_is_deterministic_from_seed():
    assert _plan(0) == _plan(0)
    assert _plan(0)[0] != _plan(1)[0]
    # Growing train, Kokoro or long-form only appends; the untranscribed pool never moves train.
    small = _by_split(_plan()[0])
    big = _by_split(_plan(hours=1.0, kokoro_hours=0.1, long_recordings=4)[0])
    for split in ("train", "test_long"):
        for engine in ("kokoro", "espeak", "flite"):
            old = [u for u in small[split] if u.engine == engine]
            assert [u for u in big[split] if u.engine == engine][:len(old)] == old
    assert _by_split(_plan(unlab_hours=0.6)[0])["train"] == small["train"]
    # The untranscribed audio's sentences (no text file) follow from the ids and the seed alone.
    unlab = small["train_unlab"]
    assert synth.unlab_texts(SENTENCES, 0, [u.utt_id for u in unlab]) == {u.utt_id: u.text for u in unlab}


ESPEAK_TRAIN = tuple(s.spk for s in ENGINES["espeak"].SPEAKERS if s.spk not in VOICES)[:5]


def _engine_train(voices, share):
    """{engine: (train utterances, estimated hours)} of a plan with the given --max-engine-share."""
    train = _by_split(_plan(voices=voices, unlab_hours=0, max_engine_share=share)[0])["train"]
    return {e: (sum(u.engine == e for u in train), sum(est_seconds(u) for u in train if u.engine == e) / 3600)
            for e in {u.engine for u in train}}


def test_engine_share_caps_an_engine_and_shares_the_rest_by_voice():
    voices = VOICES | {s: ALL[s] for s in ESPEAK_TRAIN}  # train: 6 espeak-ng, flite awb, festival kal
    by_voice = _engine_train(voices, 1.0)  # one utterance per voice in turn, 0.45 h besides Kokoro's
    assert abs(by_voice["espeak"][0] - 6 * by_voice["flite"][0]) <= 6
    capped = _engine_train(voices, 0.5)
    assert capped["espeak"][1] == pytest.approx(0.45 * 0.5, abs=0.005)
    assert capped["flite"][1] + capped["festival"][1] == pytest.approx(0.45 * 0.5, abs=0.005)
    assert abs(capped["flite"][0] - capped["festival"][0]) <= 1
    assert capped["flite"][0] == pytest.approx(2 * by_voice["flite"][0], rel=0.1)  # a quarter, not an eighth
    assert capped["kokoro"] == by_voice["kokoro"]
    # Growing --hours under a cap only appends, engine by engine.
    small = _by_split(_plan(voices=voices, max_engine_share=0.5)[0])["train"]
    big = _by_split(_plan(voices=voices, max_engine_share=0.5, hours=1.0)[0])["train"]
    for engine in ("espeak", "flite", "festival"):
        old = [u for u in small if u.engine == engine]
        assert [u for u in big if u.engine == engine][:len(old)] == old


def test_untranscribed_engine_share_of_its_own():
    voices = VOICES | {s: ALL[s] for s in ESPEAK_TRAIN}  # train: 6 espeak-ng, flite awb, festival kal
    plans = {share: _by_split(_plan(voices=voices, unlab_max_engine_share=share)[0]) for share in (1.0, 0.5)}
    hours = {share: {e: sum(est_seconds(u) for u in p["train_unlab"] if u.engine == e) / 3600
                     for e in ("espeak", "flite", "festival")} for share, p in plans.items()}
    assert hours[1.0]["espeak"] > 2 * (hours[1.0]["flite"] + hours[1.0]["festival"])  # by voice: 6 of 8
    assert hours[0.5]["espeak"] == pytest.approx(0.15, abs=0.005)
    assert hours[0.5]["flite"] + hours[0.5]["festival"] == pytest.approx(0.15, abs=0.005)
    assert plans[0.5]["train"] == plans[1.0]["train"]  # the untranscribed share never moves train
    # An untranscribed id reads the same sentence with the same jitter whatever the share.
    same = {u.utt_id: u for u in plans[1.0]["train_unlab"]}
    shared = [u for u in plans[0.5]["train_unlab"] if u.utt_id in same]
    assert shared and all(same[u.utt_id] == u for u in shared)
    with pytest.raises(synth.SynthError, match="unlab-max-engine-share"):
        synth.prepare(Path("unused"), 0.1, 1, 0, 1, unlab_max_engine_share=0)


def test_engine_groups_where_the_cap_cannot_hold():
    spks = ["espeak_en_gb_f1", *ESPEAK_TRAIN, "flite_awb", "festival_kal"]
    assert synth.engine_groups(spks, ALL, 1.0) == [(spks, 1.0)]
    assert synth.engine_groups(spks[:3], ALL, 0.5) == [(spks[:3], 1.0)]  # one engine: all of it
    # espeak-ng capped at 0.2; flite and festival share 0.8 by voice, each over 0.2 with no one left.
    assert synth.engine_groups(spks, ALL, 0.2) == [(spks[:-2], 0.2), (spks[-2:], pytest.approx(0.8))]


def test_sentence_pools_are_disjoint():
    splits = _by_split(_plan()[0])
    texts = {split: {u.text for u in utts} for split, utts in splits.items()}
    texts["kokoro"] = {u.text for u in splits["train"] if u.engine == "kokoro"}
    texts["train"] -= texts["kokoro"]
    assert set(texts) == {"dev", "test", "test_unseen_engine", "train", "kokoro", "train_unlab",
                          "test_long"}
    pools = ("dev", "test", "test_unseen_engine", "train", "kokoro", "train_unlab")
    for a in pools:
        for b in pools:
            assert a == b or not texts[a] & texts[b], (a, b)
    assert not texts["test_long"] & (texts["dev"] | texts["train"] | texts["train_unlab"])
    assert len(texts["test_long"]) > len(texts["test"])  # drawn from the whole test pool
    with pytest.raises(synth.SynthError, match="unlab-hours"):
        _plan(unlab_hours=5)


def test_kokoro_speaks_only_its_budget_in_train():
    splits = _by_split(_plan()[0])
    seconds = {e: sum(est_seconds(u) for u in splits["train"] if (u.engine == "kokoro") == e)
               for e in (True, False)}
    assert 0.05 * 3600 <= seconds[True] < 0.05 * 3600 + 15
    assert 0.45 * 3600 <= seconds[False] < 0.45 * 3600 + 15
    assert all(u.engine != "kokoro" for split, utts in splits.items() if split != "train" for u in utts)
    assert all(0.85 <= 1 / u.stretch <= 1.15 for u in splits["train"] if u.engine == "kokoro")
    # Without Kokoro voices the other voices fill all the hours.
    no_kokoro = {s: v for s, v in VOICES.items() if v.engine != "kokoro"}
    assert sum(est_seconds(u) for u in _by_split(_plan(voices=no_kokoro)[0])["train"]) >= 0.5 * 3600


def test_held_out_speakers_stay_out_of_train():
    plan, recordings = _plan()
    splits = {split: {u.spk for u in utts} for split, utts in _by_split(plan).items()}
    assert splits["dev"] == set(synth.DEV_SPEAKERS) and splits["test"] == set(synth.TEST_SPEAKERS)
    assert splits["train"] == set(TRAIN) and splits["train_unlab"] == set(TRAIN[:3])
    assert splits["test_long"] <= set(synth.TEST_SPEAKERS)
    assert [r.spk for r in recordings] == list(synth.TEST_SPEAKERS[:3])
    for rec in recordings:
        assert all(0.3 <= p <= 1.5 for p in rec.pauses)
        assert sum(est_seconds(u) + p for u, p in zip(rec.utts, rec.pauses)) >= 30


def _sides(voices):
    """Recorded person -> the sides (train, dev, test) of the splits that hear it."""
    sides = {}
    for split, spks in synth.split_speakers(voices).items():
        for spk in spks:
            sides.setdefault(voices[spk].person, set()).add(synth.SIDES[split])
    return sides


def test_no_person_on_two_sides_with_every_voice_of_every_engine(monkeypatch):
    sides = _sides(ALL)  # mbrola (opt-in) included
    assert all(len(s) == 1 for s in sides.values()), sides
    assert sides["arctic_slt"] == {"test"} and sides["arctic_rms"] == {"dev"}
    assert sides["arctic_awb"] == sides["kal"] == sides["rab"] == sides["kokoro"] == {"train"}
    # A held-out person that would also train through another engine is refused in one line.
    monkeypatch.setattr(synth, "TEST_SPEAKERS", tuple(s for s in synth.TEST_SPEAKERS if s != "festival_slt_hts"))
    with pytest.raises(synth.SynthError, match="arctic_slt would be in both test and train"):
        synth.split_speakers(ALL)


def test_unseen_engine_and_text_share_nothing_with_train():
    splits = _by_split(_plan()[0])
    unseen = splits["test_unseen_engine"]
    assert {u.spk for u in unseen} == {"rhvoice_bdl", "rhvoice_clb", "rhvoice_slt"}
    assert {u.engine for u in unseen} == {synth.UNSEEN_ENGINE} != {"espeak"}
    trained = splits["train"] + splits["train_unlab"] + splits["dev"] + splits["test"]
    assert not {u.engine for u in unseen} & {u.engine for u in trained}
    assert {u.text for u in unseen} <= set(UNSEEN) and not set(UNSEEN) & {u.text for u in trained}
    assert len(unseen) == 5 * 3 and len({u.text for u in unseen}) == 15


def test_held_out_text_source_is_kept_out_of_the_main_text(monkeypatch):
    monkeypatch.setattr(synth, "load_sentences", lambda exclude: ["A B C D", "E F G H"])
    monkeypatch.setattr(synth, "source_sentences", lambda name: ["E F G H", "I J K L"])
    assert synth.load_text() == (["A B C D", "E F G H"], ["I J K L"])


def test_lm_text_holds_train_and_nothing_decoded_or_pseudo_labelled():
    plan = _plan()[0]
    lm = synth.lm_sentences(SENTENCES, plan)
    splits = _by_split(plan)
    assert {u.text for u in splits["train"]} <= set(lm)
    for split in ("dev", "test", "test_long", "train_unlab"):
        assert not {u.text for u in splits[split]} & set(lm), split
    read_elsewhere = {u.text for u in plan if u.split != "train"}
    assert len(lm) == len(set(SENTENCES) - read_elsewhere) > len(splits["train"])  # unread sentences too


@pytest.fixture(scope="module")
def text():
    """The installed text, loaded once for the module (each load takes seconds)."""
    return synth.load_text()


def _run_tiny(out: Path) -> None:
    assert synth.main(["--out", str(out), *TINY]) == 0


@pytest.fixture
def tiny(tmp_path_factory, text, monkeypatch) -> Path:
    """A tiny real corpus, synthesised on first use and shared by the tests of this module."""
    monkeypatch.setattr(synth, "load_text", lambda: text)
    out = tmp_path_factory.getbasetemp() / "tiny"
    if not out.exists():
        _run_tiny(out)
    return out


def test_web_bible_text_is_clean(text):
    sentences = text[0]
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
    lm = set((out / synth.LM_CORPUS).read_text(encoding="utf-8").splitlines())
    assert set(read_table(out / "train" / "text").values()) <= lm
    for split in ("dev", "test"):
        assert not set(read_table(out / split / "text").values()) & lm, split


def test_tiny_run_writes_the_held_out_engine_set(tiny, text):
    if not ENGINES["rhvoice"].available() or not text[1]:
        pytest.skip("RHVoice or the fortunes text not installed")
    unseen = load_data_dir(tiny / "test_unseen_engine")
    assert validate_data_dir(tiny / "test_unseen_engine") == []
    assert {u.spk for u in unseen} == {s.spk for s in ENGINES["rhvoice"].SPEAKERS}
    assert {u.text for u in unseen} <= set(text[1]) and not set(text[0]) & set(text[1])
    assert not {u.spk.split("_")[0] for u in load_data_dir(tiny / "train")} & {"rhvoice"}


def test_missing_engine_is_one_line_and_the_corpus_is_written(tmp_path, text, monkeypatch, capsys):
    monkeypatch.setattr(synth, "load_text", lambda: text)
    monkeypatch.setattr(ENGINES["rhvoice"], "available", set)
    out = tmp_path / "no_rhvoice"
    assert synth.main(["--out", str(out), "--hours", "0.002", "--eval-utts-per-spk", "1",
                       "--engines", "espeak,rhvoice", "--nj", "2"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "rhvoice" in line]
    assert len(lines) == 1 and "apt-get install rhvoice rhvoice-english" in lines[0], lines
    assert not (out / "test_unseen_engine").exists()
    for split in ("train", "dev", "test"):
        assert load_data_dir(out / split) and validate_data_dir(out / split) == []


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


def test_resume_with_another_engine_share_is_refused_in_one_line(tiny, capsys):
    before = _snapshot(tiny)
    assert synth.main(["--out", str(tiny), *TINY, "--max-engine-share", "0.5"]) == 1
    assert "--max-engine-share" in capsys.readouterr().err
    assert _snapshot(tiny) == before
    assert synth.main(["--out", str(tiny), *TINY, "--max-engine-share", "0"]) == 1


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
