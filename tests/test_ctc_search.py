"""The numpy CTC search: pause-split beam search, forced alignment equal to torchaudio's, the edge and
torch recognizers' beam results (word times included) equal, and that it all runs without torch."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from asr_kd.config import FeatureConfig
from asr_kd.ctc_search import align_token_spans, beam_search_between_pauses, log_softmax
from asr_kd.data.tokens import Units
from asr_kd.edge import recognizer as edge_recognizer
from asr_kd.recognizer import Recognizer

TORCH_FREE = """
import sys
import tempfile
sys.modules['torch'] = sys.modules['torchaudio'] = None
import numpy as np
from asr_kd import Result
from asr_kd.ctc_search import GreedyCollapser, align_token_spans, log_softmax, make_result, prefix_beam_search
from asr_kd.data.tokens import Units
from asr_kd.lm import LMDecoder, write_arpa
sents = ['THE CAT SAT', 'A DOG RAN']
units = Units.build(sents)
log_probs = log_softmax(np.random.default_rng(0).normal(0, 3, (40, len(units))))
assert GreedyCollapser().push(log_probs.argmax(-1).tolist()) and prefix_beam_search(log_probs, beam=4)
assert len(align_token_spans(log_probs, [1, 2, 2])) == 3
with tempfile.TemporaryDirectory() as tmp:
    write_arpa(sents, tmp + '/lm.arpa')
    ids, frames = LMDecoder(units, tmp + '/lm.arpa', beam_size=8)(log_probs)
assert isinstance(make_result(units, ids, frames, 0.04), Result) and len(ids) == len(frames)
print('decoded without torch')
"""


def test_search_and_lm_decoding_run_without_torch():
    proc = subprocess.run([sys.executable, "-c", TORCH_FREE], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "decoded without torch"


def test_beam_search_splits_at_pauses_and_marks_them_with_a_space():
    path = [1, 0, 0, 0, 0, 0, 2, 0, 2]  # a, a pause of 5 blanks, b, b
    logits = np.full((len(path), 4), -8.0, np.float32)
    logits[np.arange(len(path)), path] = 0.0
    log_probs = log_softmax(logits)  # (T, 4)
    assert np.allclose(np.exp(log_probs).sum(-1), 1.0)
    assert beam_search_between_pauses(log_probs, beam=4, space=3, pause_frames=4) == [1, 3, 2, 2]
    assert beam_search_between_pauses(log_probs, beam=4, space=3, pause_frames=0) == [1, 2, 2]
    assert beam_search_between_pauses(log_probs[:0], space=3, pause_frames=4) == []


def _torchaudio_spans(log_probs: np.ndarray, ids: list[int]) -> list[tuple[int, int, int]]:
    """torchaudio's forced_align + merge_tokens, what decoding.align_tokens called before."""
    import torchaudio

    with warnings.catch_warnings():  # torchaudio 2.9 flags forced_align as deprecated
        warnings.simplefilter("ignore", UserWarning)
        path, scores = torchaudio.functional.forced_align(torch.from_numpy(log_probs)[None],
                                                          torch.tensor([ids], dtype=torch.int32), blank=0)
    return [(s.token, s.start, s.end) for s in torchaudio.functional.merge_tokens(path[0], scores[0].exp(), blank=0)]


def _alignment_cases(rng, n: int):
    """(T, V) float32 log-probabilities and target ids: random, peaked (spikes spelling the targets, with
    noise), and exact ties; targets with repeated neighbours, from just enough frames to many spare."""
    for i in range(n):
        v = int(rng.integers(2, 7))
        ids = rng.integers(1, v, int(rng.integers(1, 9))).tolist()
        if i % 4 == 0:
            ids = ids[:1] * len(ids)  # all repeats: a blank between each pair
        least = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
        t = least + int(rng.integers(0, 3 * len(ids)))
        kind = i % 3
        if kind == 0:
            x = rng.normal(0, 3, (t, v))
        elif kind == 1:
            labels = np.zeros(t, int)
            labels[np.sort(rng.choice(t, len(ids), replace=False))] = ids
            x = rng.normal(0, 1, (t, v))
            x[np.arange(t), labels] += 8
        else:
            x = rng.integers(-2, 1, (t, v)) * 5.0  # few distinct values: ties everywhere
        yield log_softmax(x) if kind < 2 else x.astype(np.float32), ids


def test_forced_alignment_equals_torchaudio():
    cases = 0
    for log_probs, ids in _alignment_cases(np.random.default_rng(0), 1500):
        assert [tuple(s) for s in align_token_spans(log_probs, ids)] == _torchaudio_spans(log_probs, ids), ids
        cases += 1
    assert cases == 1500
    log_probs = log_softmax(np.random.default_rng(1).normal(0, 3, (2000, 30)))  # (T, V): long
    ids = np.random.default_rng(2).integers(1, 30, 100).tolist()
    assert [tuple(s) for s in align_token_spans(log_probs, ids)] == _torchaudio_spans(log_probs, ids)


def test_forced_alignment_puts_a_blank_between_repeats():
    log_probs = log_softmax(np.zeros((3, 3)))  # (T, V): no preference, just enough frames for "LL"
    assert [tuple(s) for s in align_token_spans(log_probs, [1, 1])] == [(1, 0, 1), (1, 2, 3)]
    assert align_token_spans(log_probs, []) == []
    with pytest.raises(ValueError, match="cannot hold"):
        align_token_spans(log_probs[:2], [1, 1])


class _NoOnnx:
    """Stands in for an ONNX export: EdgeRecognizer.decode needs only units, feature settings and output delay."""

    def __init__(self, units):
        self.units, self.feature_conf, self.output_delay = units, FeatureConfig(), 0


def test_edge_beam_decoding_equals_the_torch_recognizer(monkeypatch):
    units = Units.build(["HELLO WORLD"])
    monkeypatch.setattr(edge_recognizer, "OnnxCTC", lambda path, num_threads: _NoOnnx(units))
    edge = edge_recognizer.EdgeRecognizer("student.onnx", decoder="beam", beam_size=4)
    torch_rec = Recognizer(torch.nn.Identity(), units, FeatureConfig(), torch.device("cpu"), decoder="beam",
                           beam_size=4)
    rng = np.random.default_rng(0)
    # frame labels spelling HELLO WORLD, a blank or two before each token and a pause (a word boundary) before O
    labels = [f for i, k in enumerate(units.encode("HELLO WORLD"))
              for f in [0] * (15 if i == 4 else int(rng.integers(1, 3))) + [k]] + [0, 0]
    peaked = rng.normal(0, 1, (len(labels), len(units))).astype(np.float32)  # (T, V)
    peaked[np.arange(len(labels)), labels] += 8
    words = 0
    for logits in [peaked] + [rng.normal(0, 2, (t, len(units))).astype(np.float32) for t in (1, 10, 80)]:
        ours = edge.decode(logits)
        assert ours == torch_rec.decode(torch.from_numpy(logits))
        words += len(ours.words)
    assert edge.decode(peaked).text == "HELL O WORLD" and words > 3
