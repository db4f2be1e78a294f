"""The torch-free runtime (asr_kd.edge) on a tiny exported student: same text as the torch recognizer
(greedy, beam, beam + LM), streaming equal to offline, no torch imported, one-line errors, the bench."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_kd import Recognizer, checkpoint
from asr_kd.config import FeatureConfig
from asr_kd.data.tokens import Units
from asr_kd.edge.cli import main as edge_main
from asr_kd.edge.model import ModelError
from asr_kd.edge.recognizer import EdgeRecognizer
from asr_kd.export import export
from asr_kd.framing import ChunkConfig
from asr_kd.lm import write_arpa
from asr_kd.models import build_model

STUDENT = {"rnn_type": "lstm", "hidden_size": 24, "num_layers": 2, "subsampling_channels": 16,
           "frontend_norm": True, "residual": True}  # as the presets
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['torchaudio'] = None; "


def _student(tmp_path, conf=STUDENT, name="student.pt", units=None):
    torch.manual_seed(0)
    units = units or Units.build(["ABCDE "])
    model = build_model("rnn_ctc", conf, 80, len(units)).eval()
    with torch.no_grad():
        model.head.bias[0] = -1.0  # random weights; keep blank from dominating so tokens appear
    path = tmp_path / name
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), path)
    return path


@pytest.fixture
def exports(tmp_path):
    """(checkpoint, offline .onnx, streaming .onnx) of one tiny LSTM student."""
    ckpt = _student(tmp_path)
    return ckpt, export(ckpt, tmp_path / "s.onnx", "onnx"), export(ckpt, tmp_path / "st.onnx", "onnx", streaming=True)


def _wave(seconds=4.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.1 * rng.standard_normal(len(t)) * (1 + np.sin(2 * np.pi * 1.5 * t))).astype(np.float32)


def test_edge_equals_torch_offline_and_streaming_export(exports):
    ckpt, offline, streaming = exports
    ref = Recognizer.from_checkpoint(ckpt)
    wave = _wave()
    expected = ref.transcribe(wave)
    assert expected.tokens, "the tiny model should emit tokens"
    ref_logits = ref.logits(ref.features(wave)).numpy()
    for path in (offline, streaming):
        rec = EdgeRecognizer(path)
        logits = rec.logits(rec.features(wave))
        assert logits.shape == ref_logits.shape and np.abs(logits - ref_logits).max() < 1e-3
        assert rec.transcribe(wave) == expected
    meta = EdgeRecognizer(streaming).model.streaming
    assert meta["chunk_frames"] == 32 and [s["name"] for s in meta["state"]] == ["h", "c"]


def test_long_input_in_windows_and_blocks(exports, monkeypatch):
    """Offline exports run in the torch recognizer's windows (same frames); streaming exports in blocks
    with the carried state, equal to one whole pass."""
    ckpt, offline, streaming = exports
    from asr_kd.edge import model as edge_model

    monkeypatch.setattr(edge_model, "OFFLINE_BLOCK_FRAMES", 37)
    feats = np.random.default_rng(1).standard_normal((1003, 80)).astype(np.float32)
    windows = ChunkConfig(chunk=40, left=5, right=5)
    torch_windowed = Recognizer.from_checkpoint(ckpt, chunk=windows).logits(torch.from_numpy(feats)).numpy()
    assert np.abs(EdgeRecognizer(offline, chunk=windows).logits(feats) - torch_windowed).max() < 1e-4
    with torch.no_grad():
        whole = Recognizer.from_checkpoint(ckpt).model(torch.from_numpy(feats)[None], torch.tensor([1003]))[0][0]
    assert np.abs(EdgeRecognizer(streaming).logits(feats) - whole.numpy()).max() < 1e-4
    wave = _wave(7.3)
    for rec in (EdgeRecognizer(streaming), EdgeRecognizer(offline, chunk=windows)):
        blocks = rec.wave_logits(wave, block_seconds=0.77)  # fbank in blocks, fed as it comes: state / windows
        assert np.abs(blocks - rec.logits(rec.features(wave))).max() < 1e-4


@pytest.mark.parametrize("pieces", [[1, 37, 160, 5000], [5120], [320, 1, 2, 3, 4000]])
def test_stream_equals_offline(exports, pieces):
    _, _, streaming = exports
    rec = EdgeRecognizer(streaming)
    wave = np.concatenate([_wave(2.0, 1), np.zeros(16000, np.float32), _wave(2.5, 2)])  # a pause between
    stream, k, i = rec.stream(), 0, 0
    partials = []
    while k < len(wave):
        n = pieces[i % len(pieces)]
        stream.accept(wave[k : k + n])
        partials.append(stream.partial())
        k, i = k + n, i + 1
    result = stream.finish()
    assert result == rec.transcribe(wave) and result.tokens
    assert all(b.startswith(a) for a, b in zip(partials, partials[1:]))  # partial text only grows


def test_subword_student_streams_as_it_decodes_offline(tmp_path):
    """Sentencepiece units: the streaming export carries the model; streamed text and words equal offline."""
    units = Units.train_subwords(["A BAD CAB", "DAD ADDED A BEAD", "ACE BED CAB"] * 10, vocab_size=20)
    ckpt = _student(tmp_path, units=units)
    rec = EdgeRecognizer(export(ckpt, tmp_path / "st.onnx", "onnx", streaming=True))
    assert rec.units.model == units.model and rec.units.symbols == units.symbols
    wave = np.concatenate([_wave(2.0, 1), np.zeros(16000, np.float32), _wave(2.5, 2)])
    stream = rec.stream()
    for a in range(0, len(wave), 5120):
        stream.accept(wave[a : a + 5120])
    result = stream.finish()
    assert result == rec.transcribe(wave) == Recognizer.from_checkpoint(ckpt).transcribe(wave) and result.tokens
    assert result.text == " ".join(w.text for w in result.words)


def _spelling_logits(units, text: str, noise: float, seed: int) -> np.ndarray:
    """(T, V) logits whose greedy path spells `text` (3 frames per symbol: symbol, blank, blank) plus noise."""
    ids = units.encode(text)
    logits = noise * np.random.default_rng(seed).standard_normal((3 * len(ids) + 2, len(units))).astype(np.float32)
    for i, k in enumerate(ids):
        logits[3 * i + 1, k] += 5.0
        logits[3 * i + 2, 0] += 5.0
        logits[3 * i + 3, 0] += 5.0
    return logits


def test_beam_and_lm_equal_torch(exports, tmp_path):
    ckpt, offline, _ = exports
    wave = _wave()
    ref = Recognizer.from_checkpoint(ckpt, decoder="beam", beam_size=4).transcribe(wave)
    assert EdgeRecognizer(offline, decoder="beam", beam_size=4).transcribe(wave) == ref and ref.tokens
    arpa = tmp_path / "lm.arpa"
    write_arpa(["A BAD CAB", "DAD ADDED A BEAD", "ACE BED"], arpa)
    torch_lm = Recognizer.from_checkpoint(ckpt, decoder="beam", beam_size=8, lm=arpa)
    edge_lm = EdgeRecognizer(offline, decoder="beam", beam_size=8, lm=arpa)
    for seed, text in enumerate(["A BAD CAB", "DAD ADED A BED", "ACE BAD"]):  # two misspelt: the LM corrects
        logits = _spelling_logits(edge_lm.units, text, 1.0, seed)
        ref = torch_lm.decode(torch.from_numpy(logits))
        assert edge_lm.decode(logits) == ref and ref.words


def _run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True, timeout=120)


def test_runtime_runs_with_torch_blocked(exports, tmp_path):
    ckpt, offline, streaming = exports
    wav = tmp_path / "a.wav"
    sf.write(wav, _wave(), 16000)
    greedy = Recognizer.from_checkpoint(ckpt).transcribe(str(wav)).text
    beam = Recognizer.from_checkpoint(ckpt, decoder="beam").transcribe(str(wav)).text
    for model, extra, expected in ((offline, [], greedy), (streaming, ["--stream"], greedy),
                                   (offline, ["--decoder", "beam"], beam)):
        args = ["transcribe", "--model", str(model), str(wav), *extra]
        out = _run_blocked(f"from asr_kd.edge.cli import main; sys.exit(main({args!r}))")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"{wav} {expected}".strip()
    out = _run_blocked("import asr_kd.edge.bench, asr_kd.edge.recognizer, asr_kd.ctc_search, asr_kd.lm; "
                       "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio')))")
    assert out.returncode == 0 and out.stdout.strip() == "['torch', 'torchaudio']", out.stderr  # only the blocks


def test_asr_kd_without_torch_is_one_line(tmp_path):
    out = _run_blocked("from asr_kd.cli import main; sys.exit(main(['export', '--checkpoint', 'x.pt', '--out', 'y.onnx']))")
    assert out.returncode == 1 and "pip install '.[train]'" in out.stderr and "Traceback" not in out.stderr


def test_bad_models_and_input_are_one_line(exports, tmp_path, capsys):
    ckpt, offline, _ = exports
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a model")
    foreign = tmp_path / "foreign.onnx"
    import onnx

    proto = onnx.load(str(offline))
    del proto.metadata_props[:]
    onnx.save(proto, str(foreign))
    for path, match in ((tmp_path / "missing.onnx", "not found"), (junk, "not a usable"),
                        (foreign, "not exported by asr-kd")):
        with pytest.raises(ModelError, match=match):
            EdgeRecognizer(path)
        assert edge_main(["transcribe", "--model", str(path), "x.wav"]) == 1
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="--streaming"):
        EdgeRecognizer(offline).stream()
    with pytest.raises(ValueError, match="NaN or inf"):
        EdgeRecognizer(offline).transcribe(np.array([0.1, np.nan] * 4000, np.float32))
    with pytest.raises(ValueError, match="shorter than one"):
        EdgeRecognizer(offline).transcribe(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="multiple of 40"):
        export(ckpt, tmp_path / "bad.onnx", "onnx", streaming=True, chunk_ms=50)
    bi = _student(tmp_path, {**STUDENT, "bidirectional": True, "residual": False}, "bi.pt")
    with pytest.raises(ValueError, match="unidirectional"):
        export(bi, tmp_path / "bi.onnx", "onnx", streaming=True)
    with pytest.raises(ValueError, match="edge runtime"):
        Recognizer.from_checkpoint(exports[2])


def test_edge_decode_writes_hypotheses(exports, data_dir, tmp_path):
    ckpt, offline, _ = exports
    out = tmp_path / "hyp.txt"
    assert edge_main(["decode", "--model", str(offline), "--data", str(data_dir), "--out", str(out)]) == 0
    rec = Recognizer.from_checkpoint(ckpt)
    from asr_kd.data.audio import load_utterance
    from asr_kd.data.kaldi_dir import load_data_dir

    expected = "".join(f"{u.utt} {rec.transcribe(load_utterance(u)).text}\n" for u in load_data_dir(data_dir))
    assert out.read_text() == expected


def test_edge_bench_writes_the_table(exports, data_dir, tmp_path):
    _, offline, streaming = exports
    out = tmp_path / "bench"
    assert edge_main(["bench", "--engines", str(streaming), str(offline), "--data", str(data_dir), "--out", str(out),
                      "--threads", "1", "--chunk-ms", "160", "320", "--long-minutes", "0.2", "--repeats", "1"]) == 0
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert [r["engine"] for r in rows] == [str(streaming), str(offline)]
    assert set(rows[0]["latency"]) == {"160", "320"} and "latency" not in rows[1]
    assert all(lat["same_text"] == 1.0 for lat in rows[0]["latency"].values())
    for r in rows:
        assert r["rtf_total"] > 0 and r["cold_start_s"] > 0 and r["peak_rss_mb_long"] > 10 and r["model_mb"] > 0
    table = (out / "bench.md").read_text()
    assert "latency 320 ms (median / p95; same text)" in table and "cold start (s)" in table and "st.onnx" in table


def test_gru_student_streams(tmp_path):
    ckpt = _student(tmp_path, {**STUDENT, "rnn_type": "gru"}, "gru.pt")
    path = export(ckpt, tmp_path / "gru.onnx", "onnx", streaming=True)
    rec = EdgeRecognizer(path)
    assert [s["name"] for s in rec.model.streaming["state"]] == ["h"]
    wave = _wave(3.1, 3)
    stream = rec.stream()
    for k in range(0, len(wave), 3000):
        stream.accept(wave[k : k + 3000])
    assert stream.finish() == rec.transcribe(wave) == Recognizer.from_checkpoint(ckpt).transcribe(wave)


def test_a_delayed_students_word_times_move_back_by_its_delay(tmp_path):
    """A KD student trained with kd_conf.delay spikes that many frames late; the checkpoint, both exports
    and the edge runtime carry the delay, and every recogniser reports word times that much earlier."""
    model, units, conf = checkpoint.load_model(_student(tmp_path))
    model.output_delay = 2
    path = tmp_path / "delayed.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", STUDENT, units, conf), path)
    assert checkpoint.load(path)["output_delay"] == 2
    a, b, space = units.ids["A"], units.ids["B"], units.ids["<space>"]
    ids, frames = [a, b, space, b], [1, 3, 6, 10]  # spikes at 40 ms frames
    plain = Recognizer.from_checkpoint(_student(tmp_path, name="plain.pt")).result(ids, frames)
    assert [(w.start, w.end) for w in plain.words] == [(0.04, 0.16), (0.4, 0.44)]
    recognisers = [Recognizer.from_checkpoint(path), Recognizer.from_checkpoint(path, precision="int8"),
                   Recognizer.from_checkpoint(export(path, tmp_path / "d.onnx", "onnx")),
                   Recognizer.from_checkpoint(export(path, tmp_path / "d.ts", "torchscript")),
                   EdgeRecognizer(export(path, tmp_path / "ds.onnx", "onnx", streaming=True))]
    for rec in recognisers:
        result = rec.result(ids, frames)
        assert result.text == plain.text == "AB B"
        assert [(w.text, w.start, w.end) for w in result.words] == [("AB", 0.0, 0.08), ("B", 0.32, 0.36)]  # 1 - 2 -> 0
