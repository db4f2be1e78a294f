import pytest
import torch

from asr_kd.ctc_search import GreedyCollapser, prefix_beam_search
from asr_kd.decoding import greedy_decode


def test_greedy_merges_repeats_drops_blanks_and_respects_length():
    # frames: a a _ a b b _ | padding says c
    path = [1, 1, 0, 1, 2, 2, 0, 3, 3]
    logits = torch.full((1, len(path), 4), -5.0)
    for t, k in enumerate(path):
        logits[0, t, k] = 5.0
    assert greedy_decode(logits, torch.tensor([7])) == [[1, 1, 2]]
    assert greedy_decode(logits, torch.tensor([9])) == [[1, 1, 2, 3]]
    assert greedy_decode(logits, torch.tensor([0])) == [[]]


def test_long_blank_runs_become_word_boundaries():
    space = 3
    # a _ _ _ b  |  a _ b  |  a <space> _ _ _ b  |  a _ _ _ a (repeat split by a pause)
    assert GreedyCollapser(0, space, 3).push([1, 0, 0, 0, 2]) == [1, space, 2]
    assert GreedyCollapser(0, space, 3).push([1, 0, 2]) == [1, 2]  # short gap: same word
    assert GreedyCollapser(0, space, 3).push([1, space, 0, 0, 0, 2]) == [1, space, 2]  # never two spaces
    assert GreedyCollapser(0, space, 3).push([1, 0, 0, 0, 1]) == [1, space, 1]
    assert GreedyCollapser(0, space, 3).push([0, 0, 0, 0, 1]) == [1]  # no boundary before the first token
    assert GreedyCollapser(0, space, 0).push([1, 0, 0, 0, 2]) == [1, 2]  # off


def test_collapser_is_incremental():
    path = [1, 1, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 1]
    whole = GreedyCollapser(0, 3, 4).push(path)
    pieces = GreedyCollapser(0, 3, 4)
    for k in range(0, len(path), 3):  # same frames, fed three at a time
        pieces.push(path[k : k + 3])
    assert pieces.ids == whole == [1, 3, 2, 2, 3, 1]
    logits = torch.nn.functional.one_hot(torch.tensor(path), 4).float()[None]
    assert greedy_decode(logits, torch.tensor([len(path)]), space=3, pause_frames=4) == [whole]
    with pytest.raises(ValueError):
        GreedyCollapser(0, None, 4)


def test_collapser_records_the_frame_of_each_token():
    c = GreedyCollapser(0, 3, 3)
    c.push([0, 1, 1, 0, 0, 0, 0, 2])
    assert c.ids == [1, 3, 2] and c.frames == [1, 7, 7]


def test_prefix_beam_finds_the_sequence_greedy_misses():
    # Two frames, symbols {blank, a}: the best single path is blank-blank (0.6^2 = 0.36), but "a" wins
    # summed over its paths a-a, a-blank, blank-a: 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64.
    probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(probs.log()[None], torch.tensor([2])) == [[]]
    assert prefix_beam_search(probs.log(), beam=4) == prefix_beam_search(probs.log().numpy(), beam=4) == [1]


def test_prefix_beam_handles_repeats_and_agrees_with_greedy_on_peaky_posteriors():
    path = [1, 1, 0, 1, 2, 0, 0, 2]  # a a _ a b _ _ b -> a a b b
    logits = torch.full((len(path), 3), -10.0)
    logits[torch.arange(len(path)), torch.tensor(path)] = 0.0
    lp = logits.log_softmax(-1)
    assert prefix_beam_search(lp, beam=5) == greedy_decode(lp[None], torch.tensor([len(path)]))[0] == [1, 1, 2, 2]
    assert prefix_beam_search(lp[:0]) == []
