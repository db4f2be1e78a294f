"""The one training loop, for teacher and student alike: KD is a loss term with a frozen teacher
(asr_kd.teacher_source). In phases, as icefall and WeNet split theirs: set-up (`Trainer.__init__`),
one epoch (`run_epoch`), one optimizer step and one batch's loss (`optimizer_step`, `batch_loss`),
evaluation (`evaluate`) and checkpointing (`save_state`, `save_model`). Under torchrun it trains
data-parallel: DistributedDataParallel, batches sharded by LengthBucketSampler, rank 0 writing."""

from __future__ import annotations

import json
import logging
import math
import resource
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import jiwer
import torch
import yaml
from tqdm import tqdm

from asr_kd import checkpoint
from asr_kd.average import epoch_checkpoint
from asr_kd.config import ConfigError, ExperimentConfig, TrainConfig, VTLPConfig, changed_keys
from asr_kd.data.dataset import Batch, FeatureDataset, Item, LengthBucketSampler, collate, make_loader
from asr_kd.data.tokens import Units
from asr_kd.decoding import greedy_decode
from asr_kd.distributed import Dist
from asr_kd.explock import ExpLock
from asr_kd.features import FEATS_INDEX, draw_vtlp_factor, load_cmvn, make_specaug, pad_with_silence, vtlp
from asr_kd.fileio import remove_stale_temps, write_json, write_text
from asr_kd.framing import FACTOR
from asr_kd.losses import ctc_kd_loss, ctc_loss, with_inter_ctc
from asr_kd.models import CTCModel, build_model, num_params
from asr_kd.runtime import cpu_has_native_bf16, rank_seed, seed_everything, select_device, setup_logging
from asr_kd.teacher_source import load_teacher

log = logging.getLogger("asr_kd.train")

FINAL, STATE = "final.pt", "last_state.pt"
# Settings that --resume may change: the run's length (the LR schedule is recomputed for the new
# number of steps), bookkeeping, where the features come from (the same numbers either way), and accum_grad, so that a run resumed on fewer (more) devices can keep
# its global batch of world size x accum_grad batches. Anything else would make train.yaml describe a
# run that never happened.
RESUME_MAY_CHANGE = frozenset(f"train_conf.{k}" for k in ("epochs", "max_steps", "log_interval",
                                                           "checkpoint_interval", "num_threads", "accum_grad",
                                                           "on_the_fly", "num_workers", "prefetch_factor"))


def _augment(batch: Batch, specaug, vtlp_conf: VTLPConfig) -> torch.Tensor:
    """(B, T, F) features as the student trains on them: each utterance's own frames (padding never
    masked in) warped by VTLP, then SpecAugmented, each where enabled. The frames stay where they are,
    so the teacher's posteriors of the unaugmented batch still line up with them."""
    if specaug is None and not vtlp_conf.enabled:
        return batch.feats
    feats = batch.feats.clone()
    for i, n in enumerate(batch.feat_lens.tolist()):
        if vtlp_conf.enabled:
            feats[i, :n] = vtlp(feats[i, :n], draw_vtlp_factor(vtlp_conf))
        if specaug is not None:
            feats[i, :n] = specaug(feats[i, :n].T).T  # (T, F) -> (F, T) -> (T, F)
    return feats


def _pad_silence(items: list, max_out_frames: int, feature_conf, min_after: int = 0) -> tuple[list, list[int]]:
    """Add 0..`max_out_frames` 40 ms frames of silence (a random count per end, in steps of FACTOR fbank
    frames so the output frames stay aligned; at least `min_after` after) around each (utt, feats, ids)
    item; returns the items and the output frames added in front of each."""
    before = torch.randint(0, max_out_frames + 1, (len(items),)).tolist()
    after = torch.randint(min_after, max(max_out_frames, min_after) + 1, (len(items),)).tolist()
    padded = [(u, pad_with_silence(f, FACTOR * b, FACTOR * a, feature_conf), ids)
              for (u, f, ids), b, a in zip(items, before, after)]
    return padded, before


def bf16_autocast(tc: TrainConfig, device: torch.device) -> bool:
    """Whether training runs under bf16 autocast: train_conf.amp on CUDA; train_conf.cpu_amp on a CPU only
    where bf16 is native (else a warning, and float32)."""
    if device.type == "cuda":
        return tc.amp
    if not tc.cpu_amp or cpu_has_native_bf16():
        return tc.cpu_amp
    log.warning("train_conf.cpu_amp: this CPU has no native bf16 (AVX512-BF16 or AMX); training in float32")
    return False


def _lr_lambda(warmup: int, total: int):
    """Linear warm-up to 1, then cosine decay to 0.05 at `total` steps."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
    return f


@torch.no_grad()
def evaluate(model: CTCModel, dataset: FeatureDataset, units: Units, device: torch.device,
             max_frames: int, dist: Dist = Dist()) -> dict[str, float]:
    """Dev CTC loss per frame and greedy character error rate; data-parallel ranks each take every
    world-size-th batch and pool their sums, so all get the one result."""
    model.eval()
    loss_sum, frames, refs, hyps = 0.0, 0, [], []
    batches = list(LengthBucketSampler([dataset.num_frames(i) for i in range(len(dataset))], max_frames, shuffle=False))
    for idxs in batches[dist.rank :: dist.world_size]:
        batch = collate([dataset[i] for i in idxs]).to(device)
        logits, lens = model(batch.feats, batch.feat_lens)
        loss_sum += ctc_loss(logits, lens, batch.targets, batch.target_lens).item() * lens.sum().item()
        frames += lens.sum().item()
        for ids, tgt, n in zip(greedy_decode(logits, lens), batch.targets, batch.target_lens):
            hyps.append(units.decode(ids))
            refs.append(units.decode(tgt[:n].tolist()))
    model.train()
    if dist.enabled:
        loss_sum, frames = dist.all_sum([loss_sum, frames])
        pairs = dist.gather((refs, hyps))
        refs, hyps = [r for rs, _ in pairs for r in rs], [h for _, hs in pairs for h in hs]
    return {"loss": loss_sum / frames, "cer": jiwer.cer(refs, hyps)}


def _check_resume_config(exp_dir: Path, resolved: dict) -> None:
    """Resuming must continue the run that train.yaml records: any change other than
    RESUME_MAY_CHANGE (applied from the resumed step on) is an error naming the keys."""
    try:
        saved = yaml.safe_load((exp_dir / "train.yaml").read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{exp_dir / 'train.yaml'}: cannot read the config of the run to resume ({e})") from None
    changes = {k: v for k, v in changed_keys(saved or {}, resolved).items() if k not in RESUME_MAY_CHANGE}
    if changes:
        listed = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in changes.items())
        raise ConfigError(f"{exp_dir}: cannot resume with a different config: {listed}; only "
                          f"{', '.join(sorted(RESUME_MAY_CHANGE))} may change on --resume (use a new exp dir)")


@dataclass(frozen=True)
class Inputs:
    """What a run reads besides its config (recorded under `data:` in train.yaml)."""

    train: str | Path
    units: str | Path
    cmvn: str | Path
    dev: str | Path | None = None
    unlab: str | Path | None = None  # untranscribed utterances: KD term only
    teacher: str | Path | list | None = None  # online teacher checkpoint(s); several = an ensemble
    teacher_weights: list[float] | None = None
    teacher_cache: str | Path | None = None  # from `asr-kd dump-teacher`
    init: str | Path | None = None  # starting weights (fine-tuning)

    def check(self, conf: ExperimentConfig) -> None:
        if (self.teacher or self.teacher_cache) and conf.kd_conf is None:
            raise ValueError("a teacher was given but the config has no kd_conf section")
        if self.teacher and self.teacher_cache:
            raise ValueError("give either a teacher checkpoint or a teacher cache, not both")
        if self.unlab and not (self.teacher or self.teacher_cache):
            raise ValueError("untranscribed data (--unlab) needs a teacher or a teacher cache to learn from")
        if not isinstance(conf.train_conf.accum_grad, int) or conf.train_conf.accum_grad < 1:
            raise ConfigError(f"train_conf.accum_grad must be an integer >= 1, got {conf.train_conf.accum_grad!r}")

    def record(self) -> dict:
        def opt(p):
            return str(p) if p else None

        teacher = [str(p) for p in self.teacher] if isinstance(self.teacher, (list, tuple)) else opt(self.teacher)
        return {"train": str(self.train), "dev": opt(self.dev), "units": str(self.units), "cmvn": str(self.cmvn),
                "teacher": teacher, "teacher_weights": self.teacher_weights,
                "teacher_cache": opt(self.teacher_cache), "unlab": opt(self.unlab), "init": opt(self.init)}


def train(conf: ExperimentConfig, exp_dir: str | Path, train_dir: str | Path, units_path: str | Path,
          cmvn_path: str | Path, *, dev_dir: str | Path | None = None, teacher_path: str | Path | list | None = None,
          teacher_weights: list[float] | None = None, teacher_cache: str | Path | None = None,
          unlab_dir: str | Path | None = None, init: str | Path | None = None, device: str = "auto",
          resume: bool = False) -> Path:
    """Train `conf.model` on `train_dir`; with `teacher_path` (online; a list of checkpoints is an
    ensemble averaged with `teacher_weights`) or `teacher_cache` (top-k posteriors from
    `asr-kd dump-teacher`), distil from that frozen teacher; `unlab_dir` adds untranscribed
    utterances that learn from the KD term only (the cache must cover them too); `init` starts from
    a checkpoint's weights (fine-tuning; same model config); `resume` continues from
    exp_dir/last_state.pt if there is one.
    Writes exp_dir/{train.yaml, final.pt, epoch_<N>.pt, last_state.pt, train_summary.json, log/}
    while holding the exp dir's lock, after removing temp files a killed run left behind; returns
    the final checkpoint path. Under torchrun (WORLD_SIZE > 1) every process calls this: rank 0
    holds the lock and writes, the others only train."""
    exp_dir, dist = Path(exp_dir), Dist.from_env()
    dev = select_device(device, dist.local_rank if dist.enabled else None)
    inputs = Inputs(train_dir, units_path, cmvn_path, dev_dir, unlab_dir, teacher_path, teacher_weights,
                    teacher_cache, init)
    with dist.session(dev), ExitStack() as held:
        def claim() -> None:
            held.enter_context(ExpLock(exp_dir))
            remove_stale_temps(exp_dir)

        dist.on_main(claim)
        return Trainer(conf, exp_dir, inputs, dev, dist, resume).fit()


class Trainer:
    """One run of `conf` into `exp_dir`: set up here (seeds, model, teacher, data, optimizer, and the
    state of a resumed run), then `fit()`."""

    def __init__(self, conf: ExperimentConfig, exp_dir: Path, inputs: Inputs, device: torch.device, dist: Dist,
                 resume: bool):
        tc = self.tc = conf.train_conf
        self.conf, self.exp_dir, self.inputs, self.dev, self.dist = conf, exp_dir, inputs, device, dist
        setup_logging(exp_dir, "train", dist.rank)
        seed_everything(rank_seed(tc.seed, dist.rank))
        if device.type == "cpu":
            torch.set_num_threads(tc.num_threads or torch.get_num_threads())
        self.use_amp = bf16_autocast(tc, device)
        inputs.check(conf)
        self.units = Units.read(inputs.units)
        self.model = self._build_model()  # the module itself; self.ddp is what trains (DDP-wrapped or the same)
        self.teacher = load_teacher(self.units, inputs.units, device, inputs.teacher, inputs.teacher_weights,
                                    inputs.teacher_cache)
        resuming = dist.on_main(lambda: self._write_config(resume))
        self.data, self.dev_data = self._load_data()
        self.sampler = LengthBucketSampler([self.data.num_frames(i) for i in range(len(self.data))],
                                           tc.max_frames_per_batch, seed=tc.seed, num_replicas=dist.world_size,
                                           rank=dist.rank)
        self.loader = make_loader(self.data, self.sampler, tc.num_workers, tc.prefetch_factor, tc.seed)
        # each step takes world size x accum_grad batches: ceil(ceil(N / W) / A) = ceil(N / (W A)) steps per epoch
        self.batches_per_step = dist.world_size * tc.accum_grad
        self.total_steps = tc.max_steps or tc.epochs * math.ceil(len(self.sampler.batches) / self.batches_per_step)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           _lr_lambda(tc.warmup_steps, self.total_steps))
        self.specaug = make_specaug(conf.specaug_conf)
        self.pad_frames = round(tc.pad_silence_s * 1000 / (FACTOR * conf.feature_conf.frame_shift_ms))  # 40 ms frames
        self.kd_delay = conf.kd_conf.delay if conf.kd_conf and self.teacher else 0  # trailing frames the shifted teacher needs
        self.model.output_delay = self.kd_delay  # saved with the model: its word times are that much late
        self.step, self.epoch, self.position, self.elapsed = 0, 0, 0, 0.0  # position: global batches of the epoch run
        if resuming:
            self._restore()
        self.ddp = (torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=[device.index] if device.type == "cuda" else None) if dist.enabled else self.model)
        self.metrics = None  # rank 0's log/metrics.jsonl while fit() runs

    def _build_model(self) -> CTCModel:
        conf, inputs = self.conf, self.inputs
        model = build_model(conf.model, conf.model_conf, conf.feature_conf.num_mel_bins, len(self.units),
                            load_cmvn(inputs.cmvn)).to(self.dev)
        if inputs.init:
            init_model, init_units, _ = checkpoint.load_model(inputs.init)
            if init_units.symbols != self.units.symbols:
                raise ValueError(f"{inputs.init}: units differ from {inputs.units}")
            try:
                model.load_state_dict(init_model.state_dict())
            except RuntimeError as e:
                raise ValueError(f"{inputs.init}: weights do not fit {conf.model} {conf.model_conf} "
                                 f"({str(e)[:120]})") from None
        return model

    def _write_config(self, resume: bool) -> bool:
        """Write train.yaml (rank 0), after checking that a resumed run keeps its config; returns
        whether there is a state to resume from."""
        resuming = resume and (self.exp_dir / STATE).exists()
        resolved = {**self.conf.to_dict(), "data": self.inputs.record()}
        if resuming:
            _check_resume_config(self.exp_dir, resolved)
        write_text(self.exp_dir / "train.yaml", yaml.safe_dump(resolved, sort_keys=False))
        return resuming

    def _load_data(self) -> tuple[FeatureDataset, FeatureDataset | None]:
        tc, inputs = self.tc, self.inputs
        audio = self.conf.feature_conf if tc.on_the_fly else None  # features from the audio, not the cache
        data = FeatureDataset(inputs.train, self.units, tc.max_utt_frames, on_the_fly=audio)
        if inputs.unlab:
            data.extend(FeatureDataset(inputs.unlab, self.units, tc.max_utt_frames, transcribed=False,
                                       on_the_fly=audio))
        if self.teacher is not None:
            self.teacher.check_covers([u for _, u, _ in data.items])
        if not inputs.dev:
            return data, None
        # dev is evaluated every epoch: from its cache when it has one, not recomputed each time
        dev_audio = audio if audio and not (Path(inputs.dev) / FEATS_INDEX).exists() else None
        return data, FeatureDataset(inputs.dev, self.units, on_the_fly=dev_audio)

    def _restore(self) -> None:
        """Continue from last_state.pt, on any world size: the position is in global batches, and
        rank r takes back rank r's random state (a rank the saved run did not have reseeds)."""
        state = checkpoint.load_state(self.exp_dir / STATE)
        self.model.load_state_dict(state["model"]["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["batch"]
        self.elapsed = state["elapsed"]
        rngs = state.get("rngs", [state["rng"]])
        if self.dist.rank < len(rngs):
            torch.set_rng_state(rngs[self.dist.rank])
        else:
            seed_everything(rank_seed(self.tc.seed, self.dist.rank) + self.step)
        log.info("resumed from %s at step %d (epoch %d, batch %d)", self.exp_dir / STATE, self.step, self.epoch,
                 self.position)
        before = state.get("world_size", 1) * state.get("accum_grad", 1)
        if before != self.batches_per_step:
            log.warning("the global batch changes from %d to %d batches per step (world size x accum_grad); set "
                        "train_conf.accum_grad to keep it", before, self.batches_per_step)

    def fit(self) -> Path:
        """Epochs until train_conf.epochs or max_steps; returns the final checkpoint's path."""
        tc, dist = self.tc, self.dist
        log.info("model %s: %d parameters; %d train utterances, %d batches/epoch, %d steps; device %s%s%s%s",
                 self.conf.model, num_params(self.model), len(self.data), len(self.sampler.batches), self.total_steps,
                 self.dev, " (bf16 autocast)" if self.use_amp else "",
                 f"; KD from {self.teacher.name}" if self.teacher else "",
                 f"; {dist.world_size} rank(s) x accum_grad {tc.accum_grad} = {self.batches_per_step} batches per step"
                 if self.batches_per_step > 1 else "")
        with open(self.exp_dir / "log" / "metrics.jsonl", "a") if dist.is_main else nullcontext() as self.metrics:
            self.ddp.train()
            while self.epoch < tc.epochs and self.step < self.total_steps:
                self.run_epoch()
                self.end_epoch()
        self.save_model(self.exp_dir / FINAL)
        if dist.is_main:
            frames = sum(map(self.data.num_frames, range(len(self.data))))
            audio_seconds = frames * self.conf.feature_conf.frame_shift_ms / 1000
            # epochs of audio actually trained on: less than self.epoch when max_steps ends one early
            epochs_run = min(self.epoch, self.step * self.batches_per_step / max(1, len(self.sampler.batches)))
            write_json(self.exp_dir / "train_summary.json", {
                "model": self.conf.model, "params": num_params(self.model), "steps": self.step, "epochs": self.epoch,
                "train_seconds": round(self.elapsed, 1), "device": str(self.dev), "threads": torch.get_num_threads(),
                "world_size": dist.world_size, "accum_grad": tc.accum_grad,
                "train_utts": len(self.data), "skipped": self.data.skipped, "kd": self.teacher is not None,
                "audio_hours_per_epoch": round(audio_seconds / 3600, 3),
                "audio_hours_trained": round(audio_seconds * epochs_run / 3600, 3),
                "x_real_time": round(audio_seconds * epochs_run / max(self.elapsed, 1e-9), 1),
                # peaks of this process (rank 0): what one GPU and its host need for this config
                "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated(self.dev) / 2**30, 2)
                if self.dev.type == "cuda" else None,
                "peak_host_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            })
        log.info("done: %d steps in %.0f s -> %s", self.step, self.elapsed, self.exp_dir / FINAL)
        dist.barrier()
        return self.exp_dir / FINAL

    def run_epoch(self) -> None:
        """This rank's share of the rest of the epoch, `accum_grad` batches per optimizer step."""
        w, accum = self.dist.world_size, self.tc.accum_grad
        self.sampler.set_epoch(self.epoch, self.position)
        left = len(self.sampler)  # this rank's batches still to run
        per_rank = math.ceil(len(self.sampler.batches) / w)
        bar = tqdm(total=per_rank, initial=per_rank - left, desc=f"epoch {self.epoch + 1}/{self.tc.epochs}",
                   unit="batch", disable=not self.dist.is_main)
        t0 = time.time()
        batches = iter(self.loader)  # the sampler's batches, read by the loader's workers
        for i in range(0, left, accum):
            group = [next(batches) for _ in range(min(accum, left - i))]
            self.position += w * len(group)
            if self.optimizer_step(group, bar) and self.step >= self.total_steps:
                break
        bar.close()
        self.elapsed += time.time() - t0

    def optimizer_step(self, group: list[list[Item]], bar: tqdm) -> bool:
        """One optimizer step on this rank's `group` of batches: gradients averaged over the batches
        (accumulated) and the ranks (DDP). Skipped when the gradient is not finite, which a
        non-finite loss on any rank makes it on all of them. Returns whether the step was taken."""
        tc = self.tc
        self.optimizer.zero_grad(set_to_none=True)
        losses, parts = [], []
        for j, items in enumerate(group):
            with self.ddp.no_sync() if self.dist.enabled and j < len(group) - 1 else nullcontext():
                loss, batch_parts, batch = self.batch_loss(items)
                bar.update(1)
                if not torch.isfinite(loss):  # one bad batch must not end a long run
                    log.warning("step %d: non-finite loss %s on %s; step skipped", self.step, batch_parts,
                                batch.utts[:3])
                    loss = float("nan") * sum(p.sum() for p in self.model.parameters())  # NaN gradients, all ranks
                (loss / len(group)).backward()
            losses.append(loss.item())
            parts.append(batch_parts)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        if not torch.isfinite(grad_norm):
            if all(map(math.isfinite, losses)):  # not already reported: a bad loss on another rank, or bad gradients
                log.warning("step %d: non-finite gradient; step skipped", self.step)
            return False
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if self.step % tc.log_interval == 0:
            keys = list(parts[0])
            means = self.dist.all_mean([sum(losses) / len(losses)] + [sum(p[k] for p in parts) / len(parts)
                                                                      for k in keys])  # over batches and ranks
            rec = {"step": self.step, "epoch": self.epoch, "loss": means[0], **dict(zip(keys, means[1:])),
                   "grad_norm": grad_norm.item(), "lr": self.scheduler.get_last_lr()[0]}
            self._record(rec)
            log.info("step %d %s", self.step, " ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "step"))
        if self.step % tc.checkpoint_interval == 0:
            self.save_state()
        return True

    def batch_loss(self, items: list[Item]) -> tuple[torch.Tensor, dict[str, float], Batch]:
        """(loss, its parts, the batch) of the utterances `items`: silence padding and SpecAugment,
        the student, the teacher's view of the same batch, and CTC (+ KD)."""
        shifts = None
        if self.pad_frames or self.kd_delay:
            items, shifts = _pad_silence(items, self.pad_frames, self.conf.feature_conf, self.kd_delay)
        batch = collate(items).to(self.dev)
        feats = _augment(batch, self.specaug, self.conf.vtlp_conf)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.use_amp):
            logits, lens = self.ddp(feats, batch.feat_lens)  # (B, T', V), (B,)
            teacher = self.teacher(batch, lens, logits.shape[1], shifts) if self.teacher else None  # (B, T', V)
        loss, parts = ctc_kd_loss(logits, lens, batch.targets, batch.target_lens, teacher, self.conf.kd_conf)
        loss = with_inter_ctc(loss, parts, self.model.inter_logits, self.model.inter_ctc_weight, lens,
                              batch.targets, batch.target_lens)
        return loss, parts, batch

    def end_epoch(self) -> None:
        """Close the epoch: dev evaluation, the resumable state, epoch_<N>.pt and final.pt."""
        self.epoch, self.position = self.epoch + 1, 0
        if self.dev_data is not None:
            result = evaluate(self.model, self.dev_data, self.units, self.dev, self.tc.max_frames_per_batch, self.dist)
            self._record({"step": self.step, "epoch": self.epoch, "dev_loss": result["loss"], "dev_cer": result["cer"]})
            log.info("epoch %d: dev loss %.4f, dev CER (greedy) %.2f%%", self.epoch, result["loss"],
                     100 * result["cer"])
        self.save_state()
        self.save_model(epoch_checkpoint(self.exp_dir, self.epoch))  # for `asr-kd average`
        self.save_model(self.exp_dir / FINAL)

    def _record(self, rec: dict) -> None:
        """Append `rec` to log/metrics.jsonl (rank 0)."""
        if self.metrics is not None:
            self.metrics.write(json.dumps(rec) + "\n")
            self.metrics.flush()

    def _model_checkpoint(self) -> dict:
        """The model as decoding loads it; the weights of the module itself, without DDP's `module.` prefix."""
        return checkpoint.model_checkpoint(self.model, self.conf.model, self.conf.model_conf, self.units,
                                           self.conf.feature_conf)

    def save_model(self, path: Path) -> None:
        """A model checkpoint at `path` (rank 0)."""
        if self.dist.is_main:
            checkpoint.save(self._model_checkpoint(), path)

    def save_state(self) -> None:
        """last_state.pt for --resume (rank 0 writes; all ranks must call): the model as save_model
        has it, optimizer, LR schedule, step, the epoch's position in global batches of the
        one-process order (so a resume may use another world size or accum_grad) and every rank's RNG."""
        rngs = self.dist.gather(torch.get_rng_state())
        if self.dist.is_main:
            checkpoint.save({"model": self._model_checkpoint(),
                             "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                             "step": self.step, "epoch": self.epoch, "batch": self.position, "elapsed": self.elapsed,
                             "rng": rngs[0], "rngs": rngs, "world_size": self.dist.world_size,
                             "accum_grad": self.tc.accum_grad}, self.exp_dir / STATE)
