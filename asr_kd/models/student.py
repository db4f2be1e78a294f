"""Student: slim conv subsampling x4 -> [LayerNorm] -> GRU/LSTM (unidirectional by default) [+ skip] -> CTC head.

The two bracketed parts (`frontend_norm`, `residual`; on in every preset, off by default so that
older checkpoints keep their meaning) are what lets the student learn from CTC alone: without them
a 3-layer LSTM could not even fit a few dozen utterances and the CTC-only student of the recipe
stalled at dev CER ~70% ("E E E"), while with KD the frame targets carried it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from asr_kd.features import GlobalCMVN
from asr_kd.models.ctc_model import CTCModel
from asr_kd.models.subsampling import SUBSAMPLING


@dataclass
class RnnConfig:
    rnn_type: str = "gru"  # gru | lstm
    hidden_size: int = 256
    num_layers: int = 3
    bidirectional: bool = False
    dropout: float = 0.1
    subsampling: str = "conv1d"
    subsampling_channels: int = 256
    frontend_norm: bool = False  # LayerNorm on the front-end output (the RNN input)
    residual: bool = False  # add the RNN input to its output: a direct path from front-end to head


class RnnCTC(CTCModel):
    """CNN-RNN CTC model; unidirectional, so it can later stream with a carried state."""

    def __init__(self, conf: RnnConfig, input_dim: int, vocab_size: int, cmvn: GlobalCMVN | None = None):
        super().__init__(input_dim, vocab_size, cmvn)
        if conf.rnn_type not in ("gru", "lstm"):
            raise ValueError(f"rnn_type must be 'gru' or 'lstm', got {conf.rnn_type!r}")
        if conf.residual and conf.bidirectional:
            raise ValueError("model_conf.residual needs a unidirectional RNN (bidirectional: false)")
        self.frontend = SUBSAMPLING[conf.subsampling](input_dim, conf.hidden_size, conf.subsampling_channels)
        self.norm = nn.LayerNorm(conf.hidden_size) if conf.frontend_norm else nn.Identity()
        self.residual = conf.residual
        rnn = nn.GRU if conf.rnn_type == "gru" else nn.LSTM
        self.rnn = rnn(
            conf.hidden_size,
            conf.hidden_size,
            num_layers=conf.num_layers,
            batch_first=True,
            dropout=conf.dropout if conf.num_layers > 1 else 0.0,
            bidirectional=conf.bidirectional,
        )
        self.dropout = nn.Dropout(conf.dropout)
        self.head = nn.Linear(conf.hidden_size * (2 if conf.bidirectional else 1), vocab_size)

    def encode(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T', D) -> (B, T', H). A unidirectional RNN never sees the trailing padding before a
        valid frame, so only the bidirectional one needs (slower) packing."""
        x = self.norm(x)
        if not self.rnn.bidirectional:
            return self.dropout(self._recur(x)[0]), lens
        packed = nn.utils.rnn.pack_padded_sequence(x, lens.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.dropout(out), lens

    def forward_chunk(self, feats: torch.Tensor, state=None):
        """Streaming step: (1, L, F) features whose first frame is a multiple of 4 into the stream
        -> (1, L', V) logits and the recurrent state to pass to the next call (unidirectional only)."""
        if self.rnn.bidirectional:
            raise ValueError("a bidirectional RNN cannot stream")
        x = self.cmvn(feats)
        x, _ = self.frontend(x, torch.tensor([feats.shape[1]]))  # (1, L, F) -> (1, L', D)
        out, state = self._recur(self.norm(x), state)
        return self.head(out), state

    def _recur(self, x: torch.Tensor, state=None):
        """Unidirectional RNN over (B, T', H) normalised input -> (B, T', H) output (+ the input with
        `residual`), next state: the one place offline and streaming passes share."""
        out, state = self.rnn(x, state)
        return (out + x if self.residual else out), state
