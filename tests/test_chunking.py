import pytest
import torch
from torch import nn

from asr_kd.chunking import windowed_logits
from asr_kd.framing import ChunkConfig, make_windows, subsampled_length
from asr_kd.models import build_model
from asr_kd.models.ctc_model import CTCModel
from asr_kd.models.subsampling import Conv1dSubsampling4


class LimitedContextCTC(CTCModel):
    """x4 front-end plus a kernel-5 convolution: each output frame sees +-2 output frames."""

    def __init__(self):
        super().__init__(80, 11, None)
        self.frontend = Conv1dSubsampling4(80, 16, 8)
        self.conv = nn.Conv1d(16, 16, 5, padding=2)
        self.head = nn.Linear(16, 11)

    def encode(self, x, lens):
        return self.conv(x.transpose(1, 2)).transpose(1, 2), lens  # (B, T', D) -> (B, T', D)


@pytest.mark.parametrize("n_in", [1, 6, 7, 8, 11, 37, 41, 43, 44, 45, 97, 101, 211, 1000, 1009])
@pytest.mark.parametrize("chunk", [1, 3, 10])
def test_windows_tile_output_frames_exactly(n_in, chunk):
    conf = ChunkConfig(chunk=chunk, left=2, right=3)
    wins = make_windows(n_in, conf)
    kept = sum(w.keep_end - w.keep_start for w in wins)
    assert kept == max(0, subsampled_length(n_in))
    for w in wins:
        assert w.in_start % 4 == 0 and 0 <= w.in_start < w.in_end <= n_in
        assert subsampled_length(w.in_end - w.in_start) >= w.keep_end  # the window yields what it keeps


@pytest.mark.parametrize("n_in", [7, 40, 41, 43, 97, 401, 1009])
def test_stitched_equals_full_pass_when_context_covers_receptive_field(n_in):
    torch.manual_seed(0)
    model = LimitedContextCTC().eval()
    feats = torch.randn(n_in, 80)
    with torch.no_grad():
        full, n = model(feats[None], torch.tensor([n_in]))
        for chunk in (1, 5, 10):
            stitched = windowed_logits(model, feats, ChunkConfig(chunk=chunk, left=2, right=2, batch_size=3))
            assert stitched.shape == (n.item(), 11)
            torch.testing.assert_close(stitched, full[0], atol=1e-5, rtol=1e-5)
        short_context = windowed_logits(model, feats, ChunkConfig(chunk=5, left=0, right=0))
        if n_in > 40:
            assert not torch.allclose(short_context, full[0], atol=1e-4)  # context matters, test can fail


def test_too_short_input_gives_no_frames():
    model = LimitedContextCTC().eval()
    assert windowed_logits(model, torch.randn(6, 80), ChunkConfig()).shape == (0, 11)


def test_conformer_windows_close_to_full_pass():
    torch.manual_seed(0)
    model = build_model("conformer_ctc", {"d_model": 32, "num_heads": 2, "ffn_dim": 64, "num_layers": 2,
                                          "conv_kernel_size": 5, "subsampling_channels": 8}, 80, 11).eval()
    feats = torch.randn(800, 80)
    with torch.no_grad():
        full, _ = model(feats[None], torch.tensor([800]))
        stitched = windowed_logits(model, feats, ChunkConfig(chunk=50, left=40, right=40))
    assert stitched.shape == full[0].shape
    assert (stitched.argmax(-1) == full[0].argmax(-1)).float().mean() > 0.9
