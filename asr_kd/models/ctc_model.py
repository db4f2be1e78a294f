"""The shape every model shares: CMVN -> x4 subsampling -> encoder -> linear CTC head."""

from __future__ import annotations

import torch
from torch import nn

from asr_kd.features import GlobalCMVN


class CTCModel(nn.Module):
    """Base for teacher and student; subclasses set `self.frontend` and implement `encode`.

    CMVN lives inside the model so that a checkpoint carries it and training and decoding
    normalise identically.
    """

    output_delay = 0  # 40 ms frames its spikes lag the audio (KD student with kd_conf.delay); word times subtract it
    utt_mean_norm = False  # subtract each utterance's mean after CMVN (a whole-utterance model: the teacher)
    inter_ctc_weight = 0.0  # weight of the intermediate CTC losses (teacher with model_conf.inter_ctc_layers)
    inter_logits: tuple[torch.Tensor, ...] = ()  # (B, T', V) each, from the last training-mode forward

    def __init__(self, input_dim: int, vocab_size: int, cmvn: GlobalCMVN | None):
        super().__init__()
        self.input_dim, self.vocab_size = input_dim, vocab_size
        self.cmvn = cmvn or GlobalCMVN(torch.zeros(input_dim), torch.ones(input_dim))

    def encode(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, feats: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) fbank, (B,) frames -> (B, T', V) CTC logits, (B,) frames; T' = (T-1)//2-1)//2."""
        x = self.cmvn(feats)
        if self.utt_mean_norm:
            x = utterance_mean_norm(x, lens)
        x, lens = self.frontend(x, lens)  # (B, T, F) -> (B, T', D)
        x, lens = self.encode(x, lens)  # (B, T', D) -> (B, T', H)
        return self.head(x), lens  # (B, T', V)


def utterance_mean_norm(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """(B, T, F) features minus each utterance's mean over its (B,) valid frames; padding stays 0.
    Takes away what stays the same over an utterance (a voice's spectral tilt, a channel), as
    Kaldi's per-utterance CMN does."""
    valid = (torch.arange(x.size(1), device=x.device)[None, :] < lens[:, None]).unsqueeze(-1)  # (B, T, 1)
    mean = (x * valid).sum(1, keepdim=True) / lens.clamp(min=1)[:, None, None].to(x.dtype)  # (B, 1, F)
    return (x - mean) * valid
