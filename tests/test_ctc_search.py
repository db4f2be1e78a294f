"""The numpy CTC search: pause-split beam search, and that it and the LM decoder run without torch."""

import subprocess
import sys

import numpy as np

from asr_kd.ctc_search import beam_search_between_pauses, log_softmax

TORCH_FREE = """
import sys
import tempfile
sys.modules['torch'] = sys.modules['torchaudio'] = None
import numpy as np
from asr_kd import Result
from asr_kd.ctc_search import GreedyCollapser, log_softmax, make_result, prefix_beam_search
from asr_kd.data.tokens import Units
from asr_kd.lm import LMDecoder, write_arpa
sents = ['THE CAT SAT', 'A DOG RAN']
units = Units.build(sents)
log_probs = log_softmax(np.random.default_rng(0).normal(0, 3, (40, len(units))))
assert GreedyCollapser().push(log_probs.argmax(-1).tolist()) and prefix_beam_search(log_probs, beam=4)
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
