"""Edge benchmark of the torch-free runtime (and of torch-free peers, the same way): RTF split into
features / model / decoding with 1 thread pinned to one core and with more threads; streaming latency
(time from a chunk's last sample arriving to its partial result) at several chunk sizes; cold start
(process start -> first text of a 10-s file, model load included); peak RSS of a process transcribing a
long file; model file size; installed size of the environment. Written as bench.json + bench.md."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from asr_kd.data.audio import SAMPLE_RATE, load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.fileio import write_json, write_text
from asr_kd.machine import cpu_model

PEER_PREFIX = "peer:"  # an engine spec `peer:<name>` is a peer recogniser (asr_kd.peer_engines), else an .onnx file


class Engine:
    """One recogniser behind `transcribe(wave) -> text`, with a per-stage timing where it has stages."""

    def __init__(self, spec: str, threads: int):
        self.spec = spec
        if spec.startswith(PEER_PREFIX):
            from asr_kd.peer_engines import peer_recognizer

            self.run, self.what = peer_recognizer(spec[len(PEER_PREFIX) :], threads)
            self.rec, self.params, self.model_mb = None, None, None
        else:
            from asr_kd.edge.recognizer import EdgeRecognizer

            self.rec = EdgeRecognizer(spec, num_threads=threads)
            self.what, self.params = "asr-kd ONNX (onnxruntime)", self.rec.model.num_params
            self.model_mb = os.path.getsize(spec) / 2**20

    def transcribe(self, wave: np.ndarray) -> str:
        return self.rec.transcribe(wave).text if self.rec else self.run(wave)

    def timed(self, wave: np.ndarray, seconds: dict[str, float]) -> None:
        """Transcribe `wave`, adding each stage's seconds to `seconds` (a peer is one `model` call)."""
        t0 = time.perf_counter()
        if self.rec is None:
            self.run(wave)
            seconds["model"] += time.perf_counter() - t0
            return
        feats = self.rec.features(wave)
        t1 = time.perf_counter()
        logits = self.rec.logits(feats)
        t2 = time.perf_counter()
        self.rec.decode(logits)
        seconds["features"] += t1 - t0
        seconds["model"] += t2 - t1
        seconds["decoding"] += time.perf_counter() - t2


def _rtf(engine: Engine, waves: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Median over `repeats` passes of each stage's seconds / audio seconds, after one warm-up call."""
    engine.transcribe(waves[0])
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    passes = []
    for _ in range(repeats):
        seconds = {"features": 0.0, "model": 0.0, "decoding": 0.0}
        for w in waves:
            engine.timed(w, seconds)
        passes.append(seconds)
    med = {s: statistics.median(p[s] for p in passes) / audio for s in ("features", "model", "decoding")}
    return {"rtf_total": sum(med.values()), **{f"rtf_{s}": v for s, v in med.items()}}


def streaming_latency(engine: Engine, waves: list[np.ndarray], offline: list[str], chunk_ms: int) -> dict[str, float]:
    """Feed each wave in `chunk_ms` pieces as they would arrive from a microphone; the latency of a piece
    is the time `accept` + `partial` take (its last sample arrived when the call starts). Milliseconds,
    and the fraction of waves whose streamed text equals their `offline` transcript."""
    step = SAMPLE_RATE * chunk_ms // 1000
    times, same = [], 0
    for w, text in zip(waves, offline):
        stream = engine.rec.stream()
        for a in range(0, len(w), step):
            t0 = time.perf_counter()
            stream.accept(w[a : a + step])
            stream.partial()
            times.append(time.perf_counter() - t0)
        same += stream.finish().text == text
    times.sort()
    return {"median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
            "same_text": same / len(waves)}


def _child(spec: str, wav: Path, pin_core: int | None) -> tuple[float, float]:
    """(seconds from process start to its first line of text, its peak RSS in MB) for a fresh
    process that loads `spec` with 1 thread and transcribes `wav`."""
    cmd = [sys.executable, "-m", "asr_kd.edge.bench", "--child", spec, str(wav)]
    pin = (lambda: os.sched_setaffinity(0, {pin_core})) if pin_core is not None else None
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
    proc.stdout.readline()  # the text
    first = time.perf_counter() - t0
    rss = proc.stdout.readline().strip()
    if proc.wait():
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return first, float(rss)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB since it started its program: Linux's VmHWM, which
    unlike ru_maxrss does not carry over the parent's memory from before exec (a forked child's
    ru_maxrss is at least its parent's RSS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _long_wave(waves: list[np.ndarray], seconds: float) -> np.ndarray:
    """The test utterances repeated back to back up to `seconds` of audio (a long recording)."""
    joined = np.concatenate(waves)
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(joined)))
    return np.tile(joined, reps)[: int(seconds * SAMPLE_RATE)]


def installed_mb(prefix: str | Path) -> float:
    """Size on disk of an environment (a venv folder: interpreter link, pip and every package)."""
    total = 0
    for root, _, files in os.walk(prefix):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total / 2**20


def edge_bench(engines: list[str], data_dir: str, out_dir: str, threads=(1, 2), pin_core: int = 0,
               chunk_ms=(160, 320, 640), long_minutes: float = 10.0, repeats: int = 3, max_utts: int = 0,
               env_prefix: str | None = None) -> list[dict]:
    """Every engine x thread count on `data_dir`; 1 thread runs pinned to `pin_core`. Streaming latency
    (streaming exports), cold start and peak RSS are measured once per engine, with 1 thread, pinned."""
    utts = load_data_dir(data_dir, require_text=False)[: max_utts or None]
    waves = [load_utterance(u) for u in utts]
    audio_seconds = sum(len(w) for w in waves) / SAMPLE_RATE
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        short, long = Path(tmp) / "10s.wav", Path(tmp) / "long.wav"
        sf.write(short, _long_wave(waves, 10.0), SAMPLE_RATE)
        sf.write(long, _long_wave(waves, 60 * long_minutes), SAMPLE_RATE)
        for spec in engines:
            for n in threads:
                if n == 1:
                    os.sched_setaffinity(0, {pin_core})
                engine = Engine(spec, n)
                row = {"engine": spec, "what": engine.what, "params": engine.params, "model_mb": engine.model_mb,
                       "threads": n, "pinned_core": pin_core if n == 1 else None, **_rtf(engine, waves, repeats)}
                if n == 1:
                    if engine.rec is not None and engine.rec.model.streaming:
                        offline = [engine.transcribe(w) for w in waves]
                        row["latency"] = {str(c): streaming_latency(engine, waves, offline, c) for c in chunk_ms}
                    cold = [_child(spec, short, pin_core) for _ in range(repeats)]
                    row["cold_start_s"] = statistics.median(c[0] for c in cold)
                    row["peak_rss_mb_long"] = _child(spec, long, pin_core)[1]
                os.sched_setaffinity(0, set(range(os.cpu_count())))
                rows.append(row)
    env = {"cpu": cpu_model(), "machine": platform.machine(), "python": platform.python_version(),
           "data": str(data_dir), "utterances": len(waves), "audio_seconds": round(audio_seconds, 2),
           "repeats": repeats, "statistic": "median", "long_file_minutes": long_minutes,
           "environment": env_prefix or sys.prefix,
           "installed_mb": round(installed_mb(env_prefix or sys.prefix), 1)}
    write_json(Path(out_dir) / "bench.json", {"env": env, "rows": rows})
    write_text(Path(out_dir) / "bench.md", bench_table(env, rows, chunk_ms))
    return rows


def bench_table(env: dict, rows: list[dict], chunk_ms) -> str:
    """Markdown: settings line, then one row per engine x threads."""
    lat = [f"latency {c} ms (median / p95; same text)" for c in chunk_ms]
    lines = [f"{env['utterances']} utterances ({env['audio_seconds']} s) of `{env['data']}`; CPU {env['cpu']}; "
             f"Python {env['python']}; median of {env['repeats']} passes after a warm-up; 1 thread pinned to one "
             f"core; cold start = process start -> first text of a 10-s file (model load included); peak RSS of "
             f"a process transcribing a {env['long_file_minutes']:g}-minute file; same text = streamed text equal to the "
             f"offline transcript; environment "
             f"`{env['environment']}`: {env['installed_mb']} MB installed.", "",
             "| engine | params | model (MB) | threads | RTF total | features | model | decoding | "
             + " | ".join(lat) + " | cold start (s) | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(lat) + "---|---|"]
    for r in rows:
        name = r["engine"] if r["engine"].startswith(PEER_PREFIX) else Path(r["engine"]).name
        params = f"{r['params'] / 1e6:.2f}M" if r["params"] else "-"
        size = f"{r['model_mb']:.1f}" if r["model_mb"] else "-"
        lats = [(f"{r['latency'][str(c)]['median_ms']:.1f} / {r['latency'][str(c)]['p95_ms']:.1f}; "
                 f"{100 * r['latency'][str(c)]['same_text']:.0f}%" if "latency" in r else "-") for c in chunk_ms]
        cold = f"{r['cold_start_s']:.2f}" if "cold_start_s" in r else "-"
        rss = f"{r['peak_rss_mb_long']:.0f}" if "peak_rss_mb_long" in r else "-"
        lines.append(f"| {name} | {params} | {size} | {r['threads']} | {r['rtf_total']:.4f} | {r['rtf_features']:.4f} "
                     f"| {r['rtf_model']:.4f} | {r['rtf_decoding']:.4f} | " + " | ".join(lats) + f" | {cold} | {rss} |")
    return "\n".join(lines) + "\n"


def _child_main(spec: str, wav: str) -> None:
    """The measured child process: load `spec` with 1 thread, transcribe `wav`, print the text, then its
    peak RSS in MB."""
    engine = Engine(spec, 1)
    wave, rate = sf.read(wav, dtype="float32")
    assert rate == SAMPLE_RATE
    print(engine.transcribe(wave), flush=True)
    print(f"{peak_rss_mb():.1f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "--child":
        sys.exit("usage: python -m asr_kd.edge.bench --child ENGINE WAV (internal: the bench's measured process)")
    _child_main(sys.argv[2], sys.argv[3])
