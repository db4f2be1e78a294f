"""The one training loop, for teacher and student alike: KD is a loss term with a frozen teacher."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path

import jiwer
import numpy as np
import torch
import yaml
from tqdm import tqdm

from asr_kd import checkpoint
from asr_kd.average import epoch_checkpoint
from asr_kd.config import ConfigError, ExperimentConfig, changed_keys
from asr_kd.data.dataset import Batch, FeatureDataset, LengthBucketSampler, collate
from asr_kd.data.tokens import Units
from asr_kd.decoding import greedy_decode
from asr_kd.explock import ExpLock
from asr_kd.features import load_cmvn, make_specaug, pad_with_silence
from asr_kd.fileio import remove_stale_temps, write_json, write_text
from asr_kd.losses import ctc_kd_loss, ctc_loss
from asr_kd.models import CTCModel, build_model, num_params
from asr_kd.models.ensemble import TeacherEnsemble
from asr_kd.models.subsampling import FACTOR
from asr_kd.teacher_cache import TeacherCache

log = logging.getLogger("asr_kd.train")

FINAL, STATE = "final.pt", "last_state.pt"
# Settings that --resume may change: the run's length (the LR schedule is recomputed for the new
# number of steps) and bookkeeping. Anything else would make train.yaml describe a run that never happened.
RESUME_MAY_CHANGE = frozenset(f"train_conf.{k}" for k in ("epochs", "max_steps", "log_interval",
                                                           "checkpoint_interval", "num_threads"))


def select_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; an explicit 'cuda' without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA GPU")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_logging(exp_dir: Path, name: str) -> None:
    """Log to stderr and to exp_dir/log/<name>.log."""
    (exp_dir / "log").mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger("asr_kd")
    root.setLevel(logging.INFO)
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in (logging.StreamHandler(), logging.FileHandler(exp_dir / "log" / f"{name}.log")):
        h.setFormatter(fmt)
        root.addHandler(h)


def _augment(batch: Batch, specaug) -> torch.Tensor:
    """SpecAugment each utterance over its own frames only, so padding is never masked in."""
    feats = batch.feats.clone()
    for i, n in enumerate(batch.feat_lens.tolist()):
        feats[i, :n] = specaug(feats[i, :n].T).T  # (T, F) -> (F, T) -> (T, F)
    return feats


def _pad_silence(items: list, max_out_frames: int, feature_conf) -> tuple[list, list[int]]:
    """Add 0..`max_out_frames` 40 ms frames of silence (a random count per end, in steps of FACTOR fbank
    frames so the output frames stay aligned) around each (utt, feats, ids) item; returns the
    items and the output frames added in front of each."""
    before = torch.randint(0, max_out_frames + 1, (len(items),)).tolist()
    after = torch.randint(0, max_out_frames + 1, (len(items),)).tolist()
    padded = [(u, pad_with_silence(f, FACTOR * b, FACTOR * a, feature_conf), ids)
              for (u, f, ids), b, a in zip(items, before, after)]
    return padded, before


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
             max_frames: int) -> dict[str, float]:
    """Dev CTC loss per frame and greedy character error rate."""
    model.eval()
    loss_sum, frames, refs, hyps = 0.0, 0, [], []
    for idxs in LengthBucketSampler([dataset.num_frames(i) for i in range(len(dataset))], max_frames, shuffle=False):
        batch = collate([dataset[i] for i in idxs]).to(device)
        logits, lens = model(batch.feats, batch.feat_lens)
        loss_sum += ctc_loss(logits, lens, batch.targets, batch.target_lens).item() * lens.sum().item()
        frames += lens.sum().item()
        for ids, tgt, n in zip(greedy_decode(logits, lens), batch.targets, batch.target_lens):
            hyps.append(units.decode(ids))
            refs.append(units.decode(tgt[:n].tolist()))
    model.train()
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


def train(conf: ExperimentConfig, exp_dir: str | Path, *args, **kwargs) -> Path:
    """`_train` (see there for the arguments) while holding the exp dir's lock, after removing
    temp files that a killed run left behind."""
    exp_dir = Path(exp_dir)
    with ExpLock(exp_dir):
        remove_stale_temps(exp_dir)
        return _train(conf, exp_dir, *args, **kwargs)


def _train(conf: ExperimentConfig, exp_dir: Path, train_dir: str | Path, units_path: str | Path,
          cmvn_path: str | Path, dev_dir: str | Path | None = None, teacher_path: str | Path | None = None,
          device: str = "auto", resume: bool = False, teacher_cache: str | Path | None = None,
          teacher_weights: list[float] | None = None, unlab_dir: str | Path | None = None,
          init: str | Path | None = None) -> Path:
    """Train `conf.model` on `train_dir`; with `teacher_path` (online; a list of checkpoints is an
    ensemble averaged with `teacher_weights`) or `teacher_cache` (top-k posteriors from
    `asr-kd dump-teacher`), distil from that frozen teacher; `unlab_dir` adds untranscribed
    utterances that learn from the KD term only (the cache must cover them too); `init` starts from
    a checkpoint's weights (fine-tuning; same model config).
    Writes exp_dir/{train.yaml, final.pt, last_state.pt, log/}; returns the final checkpoint path."""
    tc = conf.train_conf
    setup_logging(exp_dir, "train")
    seed_everything(tc.seed)
    dev = select_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(tc.num_threads or torch.get_num_threads())
    use_amp = tc.amp and dev.type == "cuda"
    if (teacher_path or teacher_cache) and conf.kd_conf is None:
        raise ValueError("a teacher was given but the config has no kd_conf section")
    if teacher_path and teacher_cache:
        raise ValueError("give either a teacher checkpoint or a teacher cache, not both")
    if unlab_dir and not (teacher_path or teacher_cache):
        raise ValueError("untranscribed data (--unlab) needs a teacher or a teacher cache to learn from")

    units = Units.read(units_path)
    model = build_model(conf.model, conf.model_conf, conf.feature_conf.num_mel_bins, len(units),
                        load_cmvn(cmvn_path)).to(dev)
    if init:
        init_model, init_units, _ = checkpoint.load_model(init)
        if init_units.symbols != units.symbols:
            raise ValueError(f"{init}: units differ from {units_path}")
        try:
            model.load_state_dict(init_model.state_dict())
        except RuntimeError as e:
            raise ValueError(f"{init}: weights do not fit {conf.model} {conf.model_conf} ({str(e)[:120]})") from None
    teacher = None
    if teacher_path:
        paths = [teacher_path] if isinstance(teacher_path, (str, Path)) else list(teacher_path)
        teachers = []
        for path in paths:
            model_t, teacher_units, _ = checkpoint.load_model(path)
            if teacher_units.symbols != units.symbols:
                raise ValueError(f"{path}: teacher units differ from {units_path}")
            teachers.append(model_t)
        teacher = (teachers[0] if len(teachers) == 1 else TeacherEnsemble(teachers, teacher_weights).eval())
        teacher = teacher.to(dev).requires_grad_(False)
    cache = TeacherCache(teacher_cache) if teacher_cache else None
    if cache is not None and cache.meta["units"] != units.symbols:
        raise ValueError(f"{teacher_cache}: teacher units differ from {units_path}")

    resolved = {**conf.to_dict(), "data": {"train": str(train_dir), "dev": str(dev_dir) if dev_dir else None,
                "units": str(units_path), "cmvn": str(cmvn_path),
                "teacher": ([str(p) for p in teacher_path] if isinstance(teacher_path, (list, tuple))
                            else str(teacher_path) if teacher_path else None),
                "teacher_weights": teacher_weights,
                "teacher_cache": str(teacher_cache) if teacher_cache else None,
                "unlab": str(unlab_dir) if unlab_dir else None, "init": str(init) if init else None}}
    if resume and (exp_dir / STATE).exists():
        _check_resume_config(exp_dir, resolved)
    write_text(exp_dir / "train.yaml", yaml.safe_dump(resolved, sort_keys=False))

    data = FeatureDataset(train_dir, units, tc.max_utt_frames)
    if unlab_dir:
        data.extend(FeatureDataset(unlab_dir, units, tc.max_utt_frames, transcribed=False))
    if cache is not None:
        missing = [u for _, u, _ in data.items if u not in cache.index]
        if missing:
            raise ValueError(f"{teacher_cache}: no teacher posteriors for {len(missing)} training utterance(s), "
                             f"e.g. {missing[0]!r}; dump the teacher over every training data dir")
    audio_seconds = sum(data.num_frames(i) for i in range(len(data))) * conf.feature_conf.frame_shift_ms / 1000
    dev_data = FeatureDataset(dev_dir, units) if dev_dir else None
    sampler = LengthBucketSampler([data.num_frames(i) for i in range(len(data))], tc.max_frames_per_batch, seed=tc.seed)
    total_steps = tc.max_steps or tc.epochs * len(sampler)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(tc.warmup_steps, total_steps))
    specaug = make_specaug(conf.specaug_conf)
    pad_frames = round(tc.pad_silence_s * 1000 / (FACTOR * conf.feature_conf.frame_shift_ms))  # 40 ms output frames

    step, epoch, start_batch, elapsed = 0, 0, 0, 0.0
    if resume and (exp_dir / STATE).exists():
        state = checkpoint.load_state(exp_dir / STATE)
        model.load_state_dict(state["model"]["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, start_batch, elapsed = state["step"], state["epoch"], state["batch"], state["elapsed"]
        torch.set_rng_state(state["rng"])
        log.info("resumed from %s at step %d (epoch %d, batch %d)", exp_dir / STATE, step, epoch, start_batch)

    def ckpt() -> dict:
        return checkpoint.model_checkpoint(model, conf.model, conf.model_conf, units, conf.feature_conf)

    def save_state(next_epoch: int, next_batch: int) -> None:
        checkpoint.save({"model": ckpt(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                         "step": step, "epoch": next_epoch, "batch": next_batch, "elapsed": elapsed,
                         "rng": torch.get_rng_state()}, exp_dir / STATE)

    log.info("model %s: %d parameters; %d train utterances, %d batches/epoch, %d steps; device %s%s%s",
             conf.model, num_params(model), len(data), len(sampler), total_steps, dev,
             " (bf16 autocast)" if use_amp else "",
             f"; KD from {teacher_path or teacher_cache}" if (teacher or cache) else "")
    metrics = open(exp_dir / "log" / "metrics.jsonl", "a")
    model.train()
    while epoch < tc.epochs and step < total_steps:
        sampler.set_epoch(epoch)
        bar = tqdm(total=len(sampler), initial=start_batch, desc=f"epoch {epoch + 1}/{tc.epochs}", unit="batch")
        t0 = time.time()
        for bi, idxs in enumerate(sampler):
            if bi < start_batch:
                continue
            items, shifts = [data[i] for i in idxs], None
            if pad_frames:
                items, shifts = _pad_silence(items, pad_frames, conf.feature_conf)
            batch = collate(items).to(dev)
            feats = _augment(batch, specaug) if specaug else batch.feats
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                logits, lens = model(feats, batch.feat_lens)
                teacher_logits = None
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits, teacher_lens = teacher(batch.feats, batch.feat_lens)
                    assert torch.equal(teacher_lens, lens), "teacher and student frame rates differ"
                elif cache is not None:
                    teacher_logits = cache.dense(batch.utts, logits.shape[1], shifts).to(dev)  # (B, T', V) log-probs
            loss, parts = ctc_kd_loss(logits, lens, batch.targets, batch.target_lens, teacher_logits, conf.kd_conf)
            bar.update(1)
            if not torch.isfinite(loss):  # one bad batch must not end a long run
                log.warning("step %d: non-finite loss %s on %s; batch skipped", step, parts, batch.utts[:3])
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % tc.log_interval == 0:
                rec = {"step": step, "epoch": epoch, "loss": loss.item(), **parts, "grad_norm": grad_norm.item(),
                       "lr": scheduler.get_last_lr()[0]}
                metrics.write(json.dumps(rec) + "\n")
                metrics.flush()
                log.info("step %d %s", step, " ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "step"))
            if step % tc.checkpoint_interval == 0:
                save_state(epoch, bi + 1)
            if step >= total_steps:
                break
        bar.close()
        elapsed += time.time() - t0
        epoch, start_batch = epoch + 1, 0
        if dev_data is not None:
            result = evaluate(model, dev_data, units, dev, tc.max_frames_per_batch)
            metrics.write(json.dumps({"step": step, "epoch": epoch, "dev_loss": result["loss"], "dev_cer": result["cer"]}) + "\n")
            metrics.flush()
            log.info("epoch %d: dev loss %.4f, dev CER (greedy) %.2f%%", epoch, result["loss"], 100 * result["cer"])
        save_state(epoch, 0)
        checkpoint.save(ckpt(), epoch_checkpoint(exp_dir, epoch))  # for `asr-kd average`
        checkpoint.save(ckpt(), exp_dir / FINAL)
    metrics.close()
    checkpoint.save(ckpt(), exp_dir / FINAL)
    write_json(exp_dir / "train_summary.json", {
        "model": conf.model, "params": num_params(model), "steps": step, "epochs": epoch,
        "train_seconds": round(elapsed, 1), "device": str(dev), "threads": torch.get_num_threads(),
        "train_utts": len(data), "skipped": data.skipped, "kd": bool(teacher_path or teacher_cache),
        "audio_hours_per_epoch": round(audio_seconds / 3600, 3),
        "x_real_time": round(audio_seconds * epoch / max(elapsed, 1e-9), 1),
    })
    log.info("done: %d steps in %.0f s -> %s", step, elapsed, exp_dir / FINAL)
    return exp_dir / FINAL
