import torch

from asr_kd.config import FeatureConfig
from asr_kd.data.dataset import FeatureDataset, LengthBucketSampler, collate
from asr_kd.data.kaldi_dir import read_table
from asr_kd.data.tokens import Units
from asr_kd.features import compute_feats


def test_bucket_sampler_limits_and_determinism():
    lengths = [5, 100, 7, 50, 52, 3, 99, 60, 61, 1]
    sampler = LengthBucketSampler(lengths, max_frames=150, seed=3)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(10))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 150 or len(b) == 1
    assert list(LengthBucketSampler(lengths, 150, seed=3)) == batches
    sampler.set_epoch(1)
    assert sorted(map(tuple, sampler)) == sorted(map(tuple, batches))


def test_dataset_and_collate_pad(data_dir):
    compute_feats(data_dir, FeatureConfig())
    units = Units.build(read_table(data_dir / "text").values())
    ds = FeatureDataset(data_dir, units)
    batch = collate([ds[0], ds[3]])
    assert batch.feats.shape[0] == 2 and batch.feats.shape[2] == 80
    assert batch.feat_lens.tolist() == [ds.num_frames(0), ds.num_frames(3)]
    n = batch.feat_lens.min()
    short = int(batch.feat_lens.argmin())
    assert torch.all(batch.feats[short, n:] == 0)
    texts = read_table(data_dir / "text")
    assert units.decode(batch.targets[0, : batch.target_lens[0]].tolist()) == texts[ds.items[0][1]]
    assert torch.all(batch.targets[1, batch.target_lens[1]:] == 0)


def test_dataset_skips_and_counts_unusable_utterances(data_dir):
    compute_feats(data_dir, FeatureConfig())
    text = (data_dir / "text").read_text().replace("SPEECH", "A" * 200).replace("A B C", "")
    (data_dir / "text").write_text(text)
    units = Units.build(["ABCDEFGHIJKLMNOPQRSTUVWXYZ' "])
    ds = FeatureDataset(data_dir, units)
    assert ds.skipped["too_short_for_ctc"] == 1 and ds.skipped["empty_text"] == 1 and len(ds) == 4
