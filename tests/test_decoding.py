import torch

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
