"""int8 dynamic quantisation for CPU inference: weights of Linear/LSTM/GRU stored as int8,
activations quantised on the fly (torch.ao.quantization.quantize_dynamic). Convolutions stay fp32."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from asr_kd.models import num_params

PRECISIONS = ("fp32", "int8")


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval, CPU) with dynamically quantised int8 Linear, LSTM and GRU layers;
    `num_params` keeps the float model's count (packed int8 weights are not parameters)."""
    params = num_params(model)
    with warnings.catch_warnings():  # torch 2.9 points to torchao; the pinned torch still ships this
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(model.eval().cpu(), {nn.Linear, nn.LSTM, nn.GRU},
                                                           dtype=torch.qint8)
    quantized.num_params = params
    return quantized
