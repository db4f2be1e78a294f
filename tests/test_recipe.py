"""Tiny end-to-end run of egs/synth/s0/run.sh: synthesis -> features -> teacher -> students -> decode -> table;
and the same run's features, teacher cache and decodes again as 2 sharded jobs each (--nj 2)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asr_kd.data.kaldi_dir import read_table
from asr_kd.lm import BEAM_THRESHOLD, arpa_words
from data_prep import synth

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "synth" / "s0"
TINY = Path(__file__).resolve().parent / "fixtures" / "conf_tiny"


def _run(root, *args):
    return subprocess.run(
        ["./run.sh", "--hours", "0.01", "--kokoro-hours", "0.0005", "--engine-share", "0.9", "--eval-utts", "1",
         "--unlab-hours", "0.003", "--conf", str(TINY),
         "--data", str(root / "data"), "--exp", str(root / "exp"), "--device", "cpu", *args],
        cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """One tiny recipe run (--nj 1) shared by the tests of this module."""
    root = tmp_path_factory.mktemp("recipe")
    out = _run(root)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (root / "run.out").write_text(out.stdout + out.stderr)
    return root


def test_recipe_end_to_end(recipe):
    data, exp = recipe / "data", recipe / "exp"
    train_spk = set((data / "train" / "spk2utt").read_text().split()[::2])
    test_spk = {line.split()[0] for line in (data / "test" / "spk2utt").read_text().splitlines()}
    assert test_spk and not train_spk & test_spk
    table = (exp / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| teacher") or line.startswith("| student")]
    assert [r.split("|")[1].strip() for r in rows[:3]] == ["teacher", "student_ctc", "student_kd"]
    for name in ("teacher", "student_ctc", "student_kd"):
        result = json.loads((exp / name / "decode_test" / "result.json").read_text())
        assert result["utts"] == len(test_spk) and 0 <= result["cer"]
        assert json.loads((exp / name / "decode_test" / "rtf.json").read_text())["threads"] == 1
        hyp_keys = [line.split()[0] for line in (exp / name / "decode_test" / "text").read_text().splitlines()]
        assert hyp_keys == sorted(hyp_keys) and len(hyp_keys) == len(test_spk)
    assert "--teacher-cache" in (exp / "student_kd" / "log" / "run.log").read_text()
    assert (exp / "teacher" / "cache_train" / "meta.json").exists()
    # The KD student (only) also learns from the untranscribed audio, its text the teacher's 1-best.
    unlab = read_table(data / "train_unlab" / "wav.scp")
    pl_text = data / "train_unlab_pl" / "text"
    labelled = read_table(pl_text) if pl_text.exists() else {}
    assert unlab and set(labelled) <= set(unlab) and not (data / "train_unlab" / "text").exists()
    if not labelled:  # the tiny teacher may hear nothing: said, and the KD student keeps train_all
        assert "the teacher's 1-best is empty on every utterance" in (recipe / "run.out").read_text()
    assert read_table(data / "train_all_pl" / "text") == {**read_table(data / "train_all" / "text"), **labelled}
    assert f"--train {data}/train_all_pl " in (exp / "student_kd" / "log" / "run.log").read_text()
    assert (data / "train_all_pl" / "cmvn.json").read_bytes() == (data / "train_all" / "cmvn.json").read_bytes()
    for name in ("teacher", "student_ctc"):
        assert f"--train {data}/train_all " in (exp / name / "log" / "run.log").read_text()
    assert "--kokoro-hours 0.0005 --max-engine-share 0.9" in (data / "log" / "prepare.log").read_text()
    # The LM reads the LM text stage 0 wrote (train sentences and more, no test sentence).
    assert f"--corpus {data}/local/lm/corpus.txt" in (data / "log" / "lm.log").read_text()
    lm_words = set(arpa_words(data / "lang" / "lm.arpa"))
    assert {w for t in read_table(data / "train" / "text").values() for w in t.split()} < lm_words
    # Pseudo-labels come from beam search with that LM (its words only); every model is its last epochs' average.
    # (in --cpu-jobs 2 shards of 1 thread each, their labels joined)
    pl_logs = sorted((data / "log").glob("pseudo_label.*log"))
    assert [p.name for p in pl_logs] == ["pseudo_label.1.log", "pseudo_label.2.log"]
    assert all(f"--decoder beam --beam-size 1000 --lm {data}/lang/lm.arpa" in p.read_text() for p in pl_logs)
    assert "--num-threads 1 " in pl_logs[0].read_text() and not (data / "train_unlab_pl" / "split2").exists()
    assert {w for t in labelled.values() for w in t.split()} <= lm_words
    # Labels are scored against the sentences the corpus plan gave that audio (train_unlab has no text):
    # the plan's own sentences score 0, the tiny teacher's labels are rows of their own.
    truth = synth.unlab_texts(synth.load_text()[0], 0, sorted(unlab))
    (recipe / "truth.txt").write_text("".join(f"{u} {t}\n" for u, t in truth.items()))
    scored = subprocess.run([sys.executable, "local/score_pseudo_labels.py", "--unlab", str(data / "train_unlab"),
                             str(recipe / "truth.txt"), *([str(pl_text)] if labelled else [])],
                            cwd=RECIPE, capture_output=True, text=True)
    rows = [[c.strip() for c in r.split("|")[2:5]] for r in scored.stdout.splitlines()[2:]]
    assert scored.returncode == 0 and rows[0] == [str(len(unlab)), str(len(unlab)), "0.00"]
    if labelled:
        assert rows[1][:2] == [str(len(unlab)), str(len(labelled))]
        assert (float(rows[1][2]) > 0) == (labelled != truth)
    for name in ("teacher", "student_ctc", "student_kd"):
        assert "asr-kd average --exp " in (log := (exp / name / "log" / "average.log").read_text()) and "--last 3" in log
    jobs = table.split("Job wall times")[1]  # every logged job, the teacher cache and averaging included
    assert all(f"| {job} |" in jobs for job in ("teacher/log/dump_teacher.1.log", "student_kd/log/average.log",
                                                 "teacher/log/run.log"))
    # Stages are idempotent: a rerun skips everything and prints the same table.
    again = _run(recipe)
    assert again.returncode == 0 and "skipping" in again.stdout
    assert (exp / "results.md").read_text() == table


def test_recipe_without_untranscribed_audio_says_how_to_add_it(tmp_path):
    """Stage 5 on a data dir prepared without train_unlab: one line saying how to add it, before any work."""
    (tmp_path / "data").mkdir()
    out = _run(tmp_path, "--stage", "5", "--stop-stage", "5", "--unlab-hours", "0.5")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().endswith("has no train_unlab (prepared without it): rerun stage 0 after rm "
                                       f"{tmp_path}/data/.prepare.done (only the missing audio is synthesised), "
                                       "or pass --unlab-hours 0")
    assert not (tmp_path / "exp").exists()


def _wer_columns(table: str) -> list[list[str]]:
    """The results tables without the RTF and train time columns and the job wall times."""
    rows, drop = [], set()
    for line in table.split("Job wall times")[0].splitlines():
        cells = line.split("|")
        if line.startswith("| model"):
            drop = {k for k, c in enumerate(cells) if c.strip().startswith(("RTF", "train time"))}
        rows.append([c for k, c in enumerate(cells) if k not in drop] if line.startswith("|") else [line])
    return rows


def test_recipe_nj2_gives_the_same_results(recipe, tmp_path):
    """Features and the teacher's decodes (every set, greedy and beam + LM) redone as 2 shards + merge
    each, the teacher cache as 3 instead of 2: the same bytes, and the same WERs in the results tables."""
    shutil.copytree(recipe / "data", tmp_path / "data", symlinks=True)
    shutil.copytree(recipe / "exp", tmp_path / "exp", symlinks=True, ignore=lambda d, names: [
        n for n in names if Path(d).name == "teacher" and (n.startswith("decode_") or n == "cache_train")])
    (tmp_path / "data" / ".feats.done").unlink()
    for d in ("train_all", "dev"):
        for f in ("feats.npy", "feats.idx"):
            (tmp_path / "data" / d / f).unlink()
    out = _run(tmp_path, "--nj", "2", "--cpu-jobs", "3")  # the teacher cache in 3 shards (2 in the fixture)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "stage 1: fbank features for train_all/dev (2 job(s))" in out.stdout
    for d, extra in (("train_all", ["cmvn.json"]), ("dev", [])):
        for f in ["feats.npy", "feats.idx", "feats.skipped", *extra]:
            assert (tmp_path / "data" / d / f).read_bytes() == (recipe / "data" / d / f).read_bytes(), (d, f)
    cache, cache1 = tmp_path / "exp" / "teacher" / "cache_train", recipe / "exp" / "teacher" / "cache_train"
    for f in ("logp.npy", "ids.npy", "index"):
        assert (cache / f).read_bytes() == (cache1 / f).read_bytes(), f
    assert (tmp_path / "exp" / "teacher" / "log" / "dump_teacher.3.log").exists()
    decodes = sorted(p.relative_to(recipe / "exp") for p in (recipe / "exp").glob("teacher/decode_*"))
    assert len(decodes) >= 7
    for d in decodes:
        for f in ("text", "wer", "per_utt", "per_spk"):
            assert (tmp_path / "exp" / d / f).read_bytes() == (recipe / "exp" / d / f).read_bytes(), (d, f)
        assert json.loads((tmp_path / "exp" / d / "rtf.json").read_text())["shards"] == 2
    table = (tmp_path / "exp" / "results.md").read_text()
    assert _wer_columns(table) == _wer_columns((recipe / "exp" / "results.md").read_text())


def test_sweep_of_kd_students(recipe, tmp_path):
    """local/teacher_sweep.sh over a student preset with --train-opts: every variant learns from the
    teacher cache with its own kd_conf, and the table names each one's KD settings."""
    grid = tmp_path / "grid.txt"
    grid.write_text("# KD weight\nw05 train_all kd_conf.weight=0.5\nw09 train_all kd_conf.weight=0.9\n")
    out = subprocess.run(
        ["local/teacher_sweep.sh", "--data", str(recipe / "data"), "--exp", str(tmp_path / "sweep"), "--grid", str(grid),
         "--config", str(TINY / "student_kd.yaml"), "--device", "cpu",
         "--train-opts", f"--teacher-cache {recipe / 'exp' / 'teacher' / 'cache_train'}"],
        cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [line for line in (tmp_path / "sweep" / "table.md").read_text().splitlines() if line.startswith("| w0")]
    assert [r.split("|")[1].strip() for r in rows] == ["w05", "w09"]
    assert "kd0.5 T2" in rows[0] and "kd0.9 T2" in rows[1]  # the tiny preset distils at temperature 2
    for name in ("w05", "w09"):
        assert json.loads((tmp_path / "sweep" / name / "train_summary.json").read_text())["kd"] is True


def test_lm_sweep(recipe, tmp_path):
    """local/lm_sweep.sh: a greedy row, then one row per LM x (weight, word score), each decoded with the
    values it names; at the recipe's own 2.0:0 it matches the recipe's LM decode; each LM's out-of-vocabulary
    rate on the set (none for an LM of the set's own text); a missing ARPA is one line."""
    exp, data = tmp_path / "exp", recipe / "data"
    shutil.copytree(recipe / "exp" / "teacher", exp / "teacher")
    args = ["local/lm_sweep.sh", "--data", str(data), "--exp", str(exp), "--sets", "test", "--weights", "2.0:0 0.5:2"]
    run = dict(cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    out = subprocess.run(args + ["--lms", f"recipe={data}/lang/lm.arpa"], **run)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [line.split("|")[2:5] for line in (exp / "lm_sweep.md").read_text().splitlines()
            if line.startswith("| teacher")]
    assert [[c.strip() for c in r] for r in rows] == [["(greedy)", "", ""], ["recipe", "2.0", "0"], ["recipe", "0.5", "2"]]
    rtf = json.loads((exp / "teacher" / "decode_test_lm_recipe_w0.5_s2" / "result.json").read_text())["rtf"]
    assert (rtf["lm_weight"], rtf["word_score"], rtf["beam_size"]) == (0.5, 2.0, 1000)
    ours = (exp / "teacher" / "decode_test_lm_recipe_w2.0_s0" / "text").read_text()
    assert ours == (exp / "teacher" / "decode_test_lm" / "text").read_text()
    own = tmp_path / "own.arpa"  # an LM of the test transcripts themselves: nothing out of its vocabulary
    subprocess.run([sys.executable, "-m", "asr_kd", "make-lm", "--text", str(data / "test" / "text"), "--out", str(own)],
                   check=True, capture_output=True)
    out = subprocess.run(args + ["--lms", f"recipe={data}/lang/lm.arpa own={own}"], **run)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    oov = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:4]]
           for r in (exp / "lm_sweep.md").read_text().splitlines() if r.startswith(("| recipe", "| own"))}
    refs = " ".join(line.split(" ", 1)[1] for line in (data / "test" / "text").read_text().splitlines()).split()
    vocab = set(arpa_words(data / "lang" / "lm.arpa"))
    assert oov["recipe"] == [str(len(vocab)), f"{100 * sum(w not in vocab for w in refs) / len(refs):.2f}"]
    assert oov["own"][1] == "0.00" and float(oov["recipe"][1]) > 0
    bad = subprocess.run(args + ["--lms", f"x={tmp_path}/none.arpa"], **run)
    assert bad.returncode == 1 and bad.stderr.strip().endswith(f"no ARPA file {tmp_path}/none.arpa (--lms x={tmp_path}/none.arpa)")


def test_lm_beam_sweep(recipe):
    """local/lm_beam_sweep.py: one row per BEAM:THRESHOLD:WEIGHT point; at the recipe's beam, the default
    threshold and weight 2.0 its WER is the recipe's LM decode's; a malformed point is one line."""
    data, exp = recipe / "data", recipe / "exp"
    recipe_decode = json.loads((exp / "teacher" / "decode_test_lm" / "result.json").read_text())
    beam = recipe_decode["rtf"]["beam_size"]
    args = [sys.executable, "local/lm_beam_sweep.py", "--checkpoint", str(exp / "teacher" / "avg.pt"),
            "--data", str(data), "--sets", "test", "--grid"]
    run = dict(cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    out = subprocess.run(args + [f"{beam}:{BEAM_THRESHOLD:g}:2.0", "1:0:0.5"], **run)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.stdout.splitlines()[2:]]
    assert [r[:3] for r in rows] == [[str(beam), f"{BEAM_THRESHOLD:g}", "2"], ["1", "0", "0.5"]]
    assert rows[0][3] == f"{recipe_decode['wer']:.2f}" and float(rows[0][4]) >= 0
    bad = subprocess.run(args + ["1000:15"], **run)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith(
        "'1000:15': expected BEAM:THRESHOLD:WEIGHT, e.g. 1000:15:2.0")


def test_ingredient_ablation(recipe, tmp_path):
    """local/ingredient_ablation.sh on the tiny run: the recipe's teacher (its own decodes untouched), a row
    trained without the voices issue 11 added and a smaller one, in one table; a rerun retrains nothing."""
    data, abl = tmp_path / "data", tmp_path / "abl"
    shutil.copytree(recipe / "data", data, symlinks=True)
    cmd = ["local/ingredient_ablation.sh", "--data", str(data), "--exp", str(recipe / "exp"), "--out", str(abl),
           "--config", str(TINY / "teacher.yaml"), "--rows", "clean_old_voices clean_small no_noise",
           "--small-set", "model_conf.d_model=16", "--sets", "test"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    def speakers(d):
        return {line.split()[1] for line in (data / d / "utt2spk").read_text().splitlines()}
    new = ("kokoro_", "festival_rab", "festival_don")
    assert speakers("train_old_voices") == {s for s in speakers("train") if not s.startswith(new)}
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]]
            for r in (abl / "table.md").read_text().splitlines() if r.startswith("| ") and "---" not in r}
    assert list(rows)[1:] == ["recipe", "clean_old_voices", "clean_small", "no_noise"]
    assert rows["no_noise"][0] == "train_all_no_noise"
    aug, no_noise = (read_table(data / d / "utt2aug") for d in ("train_aug", "train_aug_no_noise"))
    assert any("noise=" in v for v in aug.values()) and not any("noise=" in v for v in no_noise.values())
    strip = {u: " ".join(p for p in v.split() if not p.startswith("noise=")) or "none" for u, v in aug.items()}
    assert no_noise == strip  # the same utterances copied, every other choice as in the recipe's copy
    assert rows["recipe"][0] == "train_all" and rows["clean_old_voices"][0] == "train_old_voices"
    assert rows["clean_small"][1].startswith("d16x1 ") and rows["clean_old_voices"][1].startswith("d32x1 ")
    recipe_decode = json.loads((recipe / "exp" / "teacher" / "decode_test" / "result.json").read_text())
    assert recipe_decode["checkpoint"].endswith("avg.pt")
    assert json.loads((abl / "recipe" / "decode_test" / "result.json").read_text())["checkpoint"].endswith("final.pt")
    logs = {row: (abl / row / "sweep_train.log").read_text() for row in ("clean_old_voices", "clean_small", "no_noise")}
    again = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {row: (abl / row / "sweep_train.log").read_text() for row in logs} == logs


def test_kd_ablation(recipe, tmp_path):
    """local/kd_ablation.sh on the tiny run: its variants train on the recipe's training set, its untranscribed
    audio and the teacher-labelled set run.sh made, and one table lists them between the recipe's models."""
    data, exp = tmp_path / "data", tmp_path / "exp"
    shutil.copytree(recipe / "data", data, symlinks=True)
    shutil.copytree(recipe / "exp", exp, symlinks=True)
    out = subprocess.run(["local/kd_ablation.sh", "--data", str(data), "--exp", str(exp), "--conf", str(TINY)],
                         cwd=RECIPE, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                         timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [r.split("|")[1].strip() for r in (exp / "kd_ablation.md").read_text().splitlines()
            if r.startswith("| ") and "---" not in r and not r.startswith("| model")]
    assert rows[:8] == ["student_ctc", "kd_frame", "kd_blank", "kd_blank_delay", "kd_unlab", "kd_unlab_seq",
                        "seq_kd_only", "teacher"]
    cmd = {name: (exp / name / "log" / "run.log").read_text().splitlines()[0]
           for name in ("kd_frame", "kd_unlab", "kd_unlab_seq", "seq_kd_only")}
    assert f"--train {data}/train_all " in cmd["kd_frame"] and "--unlab" not in cmd["kd_frame"]
    assert f"--train {data}/train_all " in cmd["kd_unlab"] and f"--unlab {data}/train_unlab " in cmd["kd_unlab"] + " "
    assert f"--train {data}/train_all_pl " in cmd["kd_unlab_seq"] and "--teacher-cache" in cmd["kd_unlab_seq"]
    assert f"--train {data}/train_all_pl " in cmd["seq_kd_only"] + " " and "--teacher" not in cmd["seq_kd_only"]
    meta = json.loads((exp / "teacher" / "cache_train_all_unlab" / "meta.json").read_text())
    assert meta["checkpoint"].endswith("teacher/avg.pt")


def test_train_step_profile_shows_what_dropout_costs():
    """local/train_step_profile.py: a step time and the operator table; dropout's masks (aten::bernoulli_)
    are listed when the preset has dropout and absent without it."""
    def profile(dropout):
        cmd = [sys.executable, "local/train_step_profile.py", "--config", str(TINY / "teacher.yaml"), "--set",
               f"model_conf.dropout={dropout}", "--batch-frames", "400", "--utt-frames", "200", "--steps", "1",
               "--threads", "1", "--top", "200"]
        out = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        assert " s per step** (mean of 1" in out.stdout and "| operator | self CPU share |" in out.stdout
        return out.stdout
    assert "| aten::bernoulli_ |" in profile(0.1)
    assert "aten::bernoulli_" not in profile(0.0)
