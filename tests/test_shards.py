"""Sharded compute-feats / dump-teacher / decode + merge give exactly the unsharded outputs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import make_recording_dir

from asr_kd import checkpoint
from asr_kd.cli import main
from asr_kd.config import FeatureConfig
from asr_kd.data.kaldi_dir import read_table
from asr_kd.data.tokens import Units
from asr_kd.evaluate import decode_data_dir, merge_decode
from asr_kd.features import compute_cmvn, compute_feats, load_cmvn, merge_feats
from asr_kd.models import build_model
from asr_kd.shards import parse_shard, shard_slice
from asr_kd.teacher_cache import TeacherCache, dump_teacher, merge_teacher_cache

DECODE_FILES = ("text", "wer", "per_utt", "per_spk")


def _same_files(a: Path, b: Path, names) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_shard_rule_is_contiguous_and_balanced():
    items = list(range(7))
    for n in range(1, 8):
        parts = [shard_slice(items, i, n) for i in range(1, n + 1)]
        assert sum(parts, []) == items and max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="cannot split 7 utterance"):
        shard_slice(items, 1, 8)
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "2", "a/b", "-1/2"):
        with pytest.raises(Exception, match="1 <= i <= N"):
            parse_shard(bad)


def test_sharded_feats_merge_to_the_unsharded_cache(data_dir, tmp_path):
    sf.write(read_table(data_dir / "wav.scp")["spkb-002"], np.zeros(100, np.float32), 16000)  # skipped: too short
    sharded = shutil.copytree(data_dir, tmp_path / "sharded")
    compute_feats(data_dir, FeatureConfig(), skip_bad=True)
    for i in (1, 2, 3, 4):  # 6 utterances: 1, 2, 1, 2
        compute_feats(sharded, FeatureConfig(), skip_bad=True, shard=(i, 4))
    assert (sharded / "split4" / "3" / "feats.skipped").read_text().startswith("spkb-002 ")
    assert merge_feats(sharded, 4) > 0
    _same_files(data_dir, sharded, ("feats.npy", "feats.idx", "feats.skipped"))
    assert not (sharded / "split4").exists()  # the shards are deleted after the merge
    assert compute_cmvn(sharded) == compute_cmvn(data_dir)


def test_merge_refuses_missing_foreign_or_overlapping_shards(data_dir, capsys):
    for i in (1, 2):
        compute_feats(data_dir, FeatureConfig(), shard=(i, 3))

    def error(*args):
        capsys.readouterr()  # the progress bars so far
        assert main(["merge-feats", str(data_dir), *args]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("asr-kd merge-feats: error: ") and "\n" not in err
        return err

    assert "shard(s) 3 of 3 missing" in error("--nj", "3")
    assert "shard(s) 1, 2 of 2 missing" in error("--nj", "2")
    shutil.copytree(data_dir / "split3" / "1", data_dir / "split3" / "3")  # shard 3 holds shard 1's utterances
    assert "'spka-001' is not in shard 3 of 3 (shards overlap" in error("--nj", "3")
    compute_feats(data_dir, FeatureConfig(), shard=(3, 3))
    utt2spk = (data_dir / "utt2spk").read_text()
    (data_dir / "utt2spk").write_text(utt2spk.replace("spka-002 spka\n", ""))  # data changed since the shards
    assert "not in shard 1 of 3" in error("--nj", "3")
    (data_dir / "utt2spk").write_text(utt2spk)
    assert main(["merge-feats", str(data_dir), "--nj", "3"]) == 0
    assert not (data_dir / "feats.skipped").read_text()


@pytest.fixture
def teacher(data_dir, tmp_path):
    compute_feats(data_dir, FeatureConfig())
    compute_cmvn(data_dir)
    units = Units.build(read_table(data_dir / "text").values())
    conf = {"d_model": 16, "num_heads": 2, "ffn_dim": 32, "num_layers": 1, "conv_kernel_size": 3,
            "subsampling_channels": 4}
    torch.manual_seed(0)
    model = build_model("conformer_ctc", conf, 80, len(units), load_cmvn(data_dir / "cmvn.json")).eval()
    ckpt = tmp_path / "teacher.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "conformer_ctc", conf, units, FeatureConfig()), ckpt)
    return ckpt


def _dump_both_ways(ckpt, dirs, out, n, **kw):
    dump_teacher(ckpt, dirs, out / "whole", top_k=4, **kw)
    for i in range(1, n + 1):
        dump_teacher(ckpt, dirs, out / "sharded", top_k=4, shard=(i, n), **kw)
    merge_teacher_cache(dirs, out / "sharded", n)
    _same_files(out / "whole", out / "sharded", ("logp.npy", "ids.npy", "index", "meta.json"))
    assert sorted(p.name for p in (out / "sharded").iterdir()) == ["ids.npy", "index", "logp.npy", "meta.json"]


def test_sharded_dump_teacher_merges_to_the_unsharded_cache(teacher, data_dir, tmp_path):
    _dump_both_ways(teacher, data_dir, tmp_path / "utts", 4)
    assert len(TeacherCache(tmp_path / "utts" / "sharded").index) == 6
    index = tmp_path / "utts" / "sharded" / "index"
    index.write_text("".join(index.read_text().splitlines(keepends=True)[:-1]))  # arrays and index now differ
    with pytest.raises(ValueError, match="do not belong together"):
        TeacherCache(index.parent)
    # With whole-recording context, a recording cut by the shard boundary is run in both shards.
    rec = make_recording_dir(tmp_path / "rec", "spk-rec", [("spk-rec-000", 0.0, 2.0, "A"), ("spk-rec-001", 2.5, 4.5, "B"),
                                                           ("spk-rec-002", 4.5, 5.0, "C")])
    compute_feats(rec, FeatureConfig())
    _dump_both_ways(teacher, [data_dir, rec], tmp_path / "ctx", 4, recording_context=True)  # 2, 2, 2, 3


def _rnn_checkpoint(path, data_dir):
    """A random GRU student (CMVN-normalised input, no output bias) whose hypotheses differ between
    utterances (its raw ids end in spaces, which the text leaves out)."""
    compute_feats(data_dir, FeatureConfig())
    compute_cmvn(data_dir)
    units = Units.build(["AB "])
    conf = {"hidden_size": 8, "num_layers": 1, "subsampling_channels": 8}
    torch.manual_seed(1)
    model = build_model("rnn_ctc", conf, 80, len(units), load_cmvn(data_dir / "cmvn.json"))
    with torch.no_grad():
        model.head.bias.zero_()
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), path)
    return path


def test_sharded_decode_merges_to_the_unsharded_decode(data_dir, tmp_path, capsys):
    ckpt = _rnn_checkpoint(tmp_path / "m.pt", data_dir)
    whole = decode_data_dir(ckpt, data_dir, tmp_path / "whole")
    for i in (1, 2, 3):
        decode_data_dir(ckpt, data_dir, tmp_path / "sharded", shard=(i, 3))
    assert main(["merge-decode", "--data", str(data_dir), "--out", str(tmp_path / "sharded"), "--nj", "3"]) == 0
    assert "total time / total audio of 3 shard(s)" in capsys.readouterr().out
    _same_files(tmp_path / "whole", tmp_path / "sharded", DECODE_FILES)
    assert "spkb-001 <unk>\n" in (tmp_path / "sharded" / "text").read_text()
    merged = json.loads((tmp_path / "sharded" / "result.json").read_text())
    unsharded = json.loads((tmp_path / "whole" / "result.json").read_text())
    assert {k: v for k, v in merged.items() if k != "rtf"} == {k: v for k, v in unsharded.items() if k != "rtf"}
    rtf = json.loads((tmp_path / "sharded" / "rtf.json").read_text())
    seconds = rtf["seconds"]
    assert rtf["rtf_total"] == pytest.approx((seconds["features"] + seconds["model"] + seconds["decoding"])
                                             / seconds["audio"])
    assert seconds["audio"] == pytest.approx(whole["rtf"]["seconds"]["audio"])
    assert (rtf["shards"], rtf["utterances"], rtf["warmup_utts"]) == (3, 6, 3)
    assert not (tmp_path / "sharded" / "split3").exists()
    # Shards decoded with other settings do not mix.
    for i in (1, 2):
        decode_data_dir(ckpt, data_dir, tmp_path / "mixed", shard=(i, 2), decoder="greedy" if i == 1 else "beam")
    with pytest.raises(ValueError, match="split2/2: decoded with other decoder, beam_size than shard 1"):
        merge_decode(data_dir, tmp_path / "mixed", 2)
