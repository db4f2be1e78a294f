import pytest
import torch

from asr_kd.scoring import StageTimer, kaldi_wer_line, score


def test_wer_counts_and_per_speaker():
    refs = {"a-1": "THE CAT SAT", "a-2": "ON THE MAT", "b-1": "HELLO"}
    hyps = {"a-1": "THE BAT SAT DOWN", "a-2": "ON MAT"}  # b-1 missing -> deletion
    r = score(refs, hyps, {"a-1": "a", "a-2": "a", "b-1": "b"})
    assert r["words"] == {"sub": 1, "del": 2, "ins": 1, "ref": 7}
    assert r["wer"] == pytest.approx(400 / 7)
    assert r["per_spk"]["b"]["wer"] == 100.0 and r["per_spk"]["a"]["wer"] == pytest.approx(50.0)
    assert r["per_utt"]["a-1"] == {"sub": 1, "del": 0, "ins": 1, "ref": 3, "wer": pytest.approx(200 / 3)}
    assert kaldi_wer_line(r) == "%WER 57.14 [ 4 / 7, 1 ins, 2 del, 1 sub ]"
    assert r["cer"] > 0


def test_stage_timer_accumulates():
    timer = StageTimer(torch.device("cpu"))
    assert timer.time("x", lambda a: a + 1, 1) == 2
    timer.time("x", sum, [1, 2])
    assert timer.seconds["x"] > 0 and list(timer.seconds) == ["x"]


def test_peer_hypotheses_get_the_reference_normalisation():
    from asr_kd.peer_engines import normalise, peer_recognizer

    assert normalise(" Hello, world!  It's 3pm.") == "HELLO WORLD IT'S PM"
    assert normalise("") == ""
    with pytest.raises(ValueError, match="peer must be"):
        peer_recognizer("wav2letter")
