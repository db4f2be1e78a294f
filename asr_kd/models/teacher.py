"""Teacher: conv subsampling x4 -> torchaudio Conformer -> CTC head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import nn

from asr_kd.features import GlobalCMVN
from asr_kd.models.ctc_model import CTCModel
from asr_kd.models.subsampling import SUBSAMPLING


@dataclass
class ConformerConfig:
    d_model: int = 144
    num_heads: int = 4
    ffn_dim: int = 576
    num_layers: int = 8
    conv_kernel_size: int = 15
    dropout: float = 0.1
    subsampling: str = "conv2d"
    subsampling_channels: int = 144
    utt_mean_norm: bool = False  # per-utterance mean normalisation after CMVN (`CTCModel.utt_mean_norm`)


class ConformerCTC(CTCModel):
    """Bidirectional Conformer encoder (full attention) with a linear CTC output layer."""

    def __init__(self, conf: ConformerConfig, input_dim: int, vocab_size: int, cmvn: GlobalCMVN | None = None):
        super().__init__(input_dim, vocab_size, cmvn)
        self.utt_mean_norm = conf.utt_mean_norm
        self.frontend = SUBSAMPLING[conf.subsampling](input_dim, conf.d_model, conf.subsampling_channels)
        self.dropout = nn.Dropout(conf.dropout)
        self.conformer = torchaudio.models.Conformer(
            input_dim=conf.d_model,
            num_heads=conf.num_heads,
            ffn_dim=conf.ffn_dim,
            num_layers=conf.num_layers,
            depthwise_conv_kernel_size=conf.conv_kernel_size,
            dropout=conf.dropout,
        )
        self.head = nn.Linear(conf.d_model, vocab_size)

    def encode(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T', D) -> (B, T', D); padded frames are masked out of attention."""
        return self.conformer(self.dropout(x), lens)
