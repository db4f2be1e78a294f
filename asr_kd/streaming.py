"""Streaming recognition with a unidirectional CNN-RNN student: audio in as it arrives, text out
(greedy decoding whatever the recognizer's decoder),
the RNN state carried across calls. Exact: the result equals an offline pass over the whole audio,
because fbank frames, CMVN, the x4 front-end and greedy CTC are all computed incrementally."""

from __future__ import annotations

import numpy as np
import torch

from asr_kd.data.audio import check_finite
from asr_kd.framing import frame_samples, num_frames, subsampled_length
from asr_kd.models.student import RnnCTC


class Stream:
    """`s = recognizer.stream(); s.accept(samples); s.partial(); s.finish()` (16 kHz float32 mono)."""

    def __init__(self, recognizer):
        if not isinstance(recognizer.model, RnnCTC) or recognizer.model.rnn.bidirectional:
            raise ValueError("streaming needs a unidirectional RNN student checkpoint")
        self.rec = recognizer
        self.samples = np.zeros(0, np.float32)  # not yet turned into fbank frames
        self.feats = torch.zeros(0, recognizer.feature_conf.num_mel_bins)  # (T, F) not yet consumed
        self.state = None
        self.collapser = recognizer.collapser()  # greedy CTC, carried across calls

    @torch.inference_mode()
    def accept(self, samples: np.ndarray) -> None:
        """Feed more audio; decodes every 40 ms frame that is complete."""
        samples = np.asarray(samples, np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples of shape (S,), got {samples.shape}")
        check_finite(samples, "audio chunk")
        self.samples = np.concatenate([self.samples, samples])
        n = num_frames(len(self.samples), self.rec.feature_conf)
        if n:
            new = self.rec.features(self.samples)[:n].cpu()  # (n, F); frame k starts at sample k * hop
            self.samples = self.samples[n * frame_samples(self.rec.feature_conf)[1]:]
            self.feats = torch.cat([self.feats, new])
        m = subsampled_length(self.feats.shape[0])
        if m > 0:
            logits, self.state = self.rec.model.forward_chunk(self.feats[None].to(self.rec.device), self.state)
            self.feats = self.feats[4 * m:]
            self.collapser.push(logits[0, :m].argmax(-1).tolist())

    def partial(self) -> str:
        """Text decoded so far."""
        return self.rec.units.decode(self.collapser.ids)

    def finish(self):
        """End of audio: frames too short for a full 40 ms output are dropped, as offline."""
        return self.rec.result(self.collapser.ids, self.collapser.frames)
