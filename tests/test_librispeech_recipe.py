"""egs/librispeech/s0/run.sh end to end on a fabricated LibriSpeech tree (SPEAKERS.TXT, FLAC + .trans.txt
per chapter, speech synthesised offline by espeak-ng) with the tiny presets: data prep, features, BPE units,
teacher, students, teacher cache, decodes of dev-clean/test-clean/test-other, table; 2 jobs per shardable stage."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
import torch

from asr_kd.data.audio import to_mono_16k

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "librispeech" / "s0"
TINY = Path(__file__).resolve().parent / "fixtures" / "conf_tiny"
SENTENCES = ["THE CAT SAT ON THE MAT", "A DOG RAN TO THE PARK", "SHE READ THE OLD BOOK", "WE WALKED HOME AT NIGHT",
             "THE SUN IS WARM TODAY", "HE OPENED THE RED DOOR"]
# subset -> readers (id, sex, espeak voice) x 1 chapter x utterances
SUBSETS = {"train-clean-100": ([("19", "F", "en-us+f3"), ("103", "M", "en-us+m3")], 6),
           "dev-clean": ([("84", "F", "en-gb+f2")], 2),
           "test-clean": ([("121", "F", "en-us+f4")], 2),
           "test-other": ([("1688", "M", "en-gb+m2")], 2)}


def _corpus(root: Path) -> Path:
    """A LibriSpeech-shaped tree: CORPUS/SPEAKERS.TXT and CORPUS/<subset>/<reader>/<chapter>/ with FLACs."""
    corpus, speakers = root / "LibriSpeech", [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    for subset, (readers, n) in SUBSETS.items():
        for reader, sex, voice in readers:
            speakers.append(f"{reader} | {sex} | {subset} | 1.00 | Reader {reader}")
            chapter = corpus / subset / reader / "100"
            chapter.mkdir(parents=True)
            lines = []
            for k in range(n):
                utt, text = f"{reader}-100-{k:04d}", SENTENCES[k % len(SENTENCES)]
                wav = chapter / f"{utt}.wav"
                subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text.lower()], check=True, capture_output=True)
                samples, rate = sf.read(wav, dtype="float32")
                sf.write(chapter / f"{utt}.flac", to_mono_16k(samples, rate), 16000, subtype="PCM_16")
                wav.unlink()
                lines.append(f"{utt} {text}\n")
            (chapter / f"{reader}-100.trans.txt").write_text("".join(lines))
    (corpus / "SPEAKERS.TXT").write_text("\n".join(speakers) + "\n")
    return corpus


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make setup installs it): no speech for the fabricated corpus")
    root = tmp_path_factory.mktemp("librispeech")
    corpus = _corpus(root)
    out = subprocess.run(
        ["./run.sh", "--corpus", str(corpus), "--conf", str(TINY), "--data", str(root / "data"),
         "--exp", str(root / "exp"), "--device", "cpu", "--nj", "2", "--average-num", "2", "--units", "bpe",
         "--vocab-size", "40"],
        cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root, out.stdout


def test_every_stage_runs_on_a_librispeech_tree(recipe):
    root, stdout = recipe
    data, exp = root / "data", root / "exp"
    for stage in range(8):
        assert f"stage {stage}:" in stdout
    assert (data / "train_clean_100" / "spk2gender").read_text().splitlines() == ["103-100 m", "19-100 f"]
    assert len((data / "train_clean_100" / "text").read_text().splitlines()) == 12
    assert (data / "lang" / "units.model").exists()  # BPE units: the sentencepiece model beside units.txt
    assert torch.load(exp / "student_kd" / "avg.pt", weights_only=True)["units_model"]
    assert (exp / "teacher" / "cache_train" / "meta.json").exists()
    assert "--teacher-cache" in (exp / "student_kd" / "log" / "run.log").read_text()
    assert list((exp / "teacher" / "log").glob("dump_teacher.2.log"))  # --nj 2: two jobs, merged
    for name in ("teacher", "student_ctc", "student_kd"):
        assert (exp / name / "avg.pt").exists()
        for subset in ("dev_clean", "test_clean", "test_other"):
            result = json.loads((exp / name / f"decode_{subset}" / "result.json").read_text())
            assert result["utts"] == 2 and result["checkpoint"].endswith("avg.pt")
    table = (exp / "results.md").read_text()
    assert "dev_clean WER" in table and "test_other WER" in table
    results = table.split("Job wall times")[0]
    rows = [line.split("|")[1].strip() for line in results.splitlines() if line.startswith(("| teacher", "| student"))]
    assert rows == ["teacher", "student_ctc", "student_kd"]


def test_gpu_budget_on_a_stand_in(recipe, tmp_path):
    """local/gpu_budget.sh --stand-in: joined LibriSpeech-length utterances (every source once, in order, one
    speaker each), their features and BPE units, a few steps of each preset, the teacher cache, the table."""
    root, _ = recipe
    src, exp = root / "data" / "train_clean_100", tmp_path / "gb"
    out = subprocess.run(
        ["local/gpu_budget.sh", "--stand-in", str(src), "--conf", str(TINY), "--exp", str(exp), "--device", "cpu",
         "--steps", "2", "--vocab-size", "40", "--hours", "100"],
        cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    joined, source = exp / "data" / "train", dict(line.split(" ", 1) for line in (src / "text").read_text().splitlines())
    spk = dict(line.split() for line in (joined / "utt2spk").read_text().splitlines())
    texts = dict(line.split(" ", 1) for line in (joined / "text").read_text().splitlines())
    for speaker in ("19-100", "103-100"):  # a speaker's utterances, in order, make up its joined ones
        mine = [u for u in sorted(source) if u.startswith(speaker)]
        assert " ".join(texts[u] for u in sorted(texts) if spk[u] == speaker) == " ".join(source[u] for u in mine)
    def frames(d: Path) -> int:
        return sum(sf.info(line.split(" ", 1)[1]).frames for line in (d / "wav.scp").read_text().splitlines())
    assert frames(joined) == frames(src)  # the same audio, joined
    assert (exp / "data" / "lang" / "units.model").exists()
    for name in ("teacher", "student_ctc", "student_kd"):
        summary = json.loads((exp / name / "train_summary.json").read_text())
        assert summary["steps"] == 2 and summary["peak_gpu_memory_gib"] is None and summary["peak_host_rss_gib"] > 0
    table = (exp / "budget.md").read_text()
    teacher = json.loads((exp / "teacher" / "train_summary.json").read_text())
    row = next(line for line in table.splitlines() if line.startswith("| teacher |")).split("|")
    assert float(row[-2]) == pytest.approx(100 * 2 / teacher["x_real_time"], abs=0.06)  # 100 h x 2 epochs (tiny)
    assert "teacher cache (dump-teacher)" in table and "Disk for 100 h" in table
