"""Teacher: conv subsampling x4 -> torchaudio Conformer -> CTC head, optionally with intermediate CTC
(Lee & Watanabe 2021) and self-conditioning (Nozaki & Komatsu 2021) on chosen layers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import nn

from asr_kd.features import GlobalCMVN
from asr_kd.losses import valid_mask
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
    inter_ctc_layers: tuple[int, ...] = ()  # after these layers (1-based) the shared CTC head adds a CTC loss
    inter_ctc_weight: float = 0.3  # loss = (1 - w) * final CTC + w * mean of the intermediate CTCs
    self_condition: bool = False  # add a projection of each intermediate posterior back to the layer's output


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
        bad = [n for n in conf.inter_ctc_layers if not 1 <= n < conf.num_layers]
        if bad:
            raise ValueError(f"model_conf.inter_ctc_layers {bad}: each must be 1..{conf.num_layers - 1}")
        self.inter_layers = frozenset(conf.inter_ctc_layers)
        self.inter_ctc_weight = conf.inter_ctc_weight if self.inter_layers else 0.0
        self.condition = nn.Linear(vocab_size, conf.d_model) if conf.self_condition and self.inter_layers else None

    def encode(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T', D) -> (B, T', D); padded frames are masked out of attention. The layers run as in
        torchaudio's `Conformer.forward`; in training mode the intermediate layers' logits are kept in
        `self.inter_logits` for the loss."""
        mask = ~valid_mask(lens, x.size(1))  # (B, T') True on padding, as torchaudio's Conformer masks
        x = self.dropout(x).transpose(0, 1)  # (T', B, D)
        inter = []
        for n, layer in enumerate(self.conformer.conformer_layers, 1):
            x = layer(x, mask)
            if n in self.inter_layers and (self.training or self.condition is not None):  # eval: only to self-condition
                logits = self.head(x)  # (T', B, V)
                inter.append(logits.transpose(0, 1))
                if self.condition is not None:
                    x = x + self.condition(logits.softmax(-1))
        self.inter_logits = tuple(inter) if self.training else ()
        return x.transpose(0, 1), lens
