"""IMDBDataModule end to end on small generated aclImdb-shaped archives (a few hundred reviews, no network).
Bad archives and reviews, refused in one line: test_data_imdb_bad_input.py."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import write_archive
from hydra.utils import instantiate
from omegaconf import OmegaConf

import overfit.data.imdb as imdb
from overfit.data import archive as imdb_archive
from overfit.data import features as imdb_features
from overfit.errors import OverfitError

N = 50  # reviews per class per split
WORDS = {"pos": ["great", "superb", "loved"], "neg": ["awful", "boring", "hated"]}
COMMON = ["the", "movie", "plot", "actor", "scene", "music"]


def review_files(n: int = N) -> dict[str, str]:
    """{member name: text}: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt plus unsup/ and other noise."""
    rng = np.random.default_rng(0)
    files = {"aclImdb/README": "readme", "aclImdb/imdb.vocab": "the\nmovie\n"}
    for split in ("train", "test"):
        for folder, ratings in (("pos", (7, 10)), ("neg", (1, 4))):
            for i in range(n):
                rare = [f"rare{k}" for k in rng.integers(0, 40, 2)]  # ~5 per split: only a few make the top 20
                words = rare + list(rng.choice(COMMON, 6)) + list(rng.choice(WORDS[folder], 2))
                if split == "test":
                    words += ["testonly"] * 5  # the most frequent word of test: must not enter the vocabulary
                text = f"{' '.join(words).capitalize()}.<br /><br />Really, it's {words[-1].upper()}!"
                files[f"aclImdb/{split}/{folder}/{i}_{rng.integers(*ratings, endpoint=True)}.txt"] = text
    for i in range(20):  # unlabeled reviews: skipped, so "unsupword" never appears anywhere
        files[f"aclImdb/train/unsup/{i}_0.txt"] = "unsupword " * 10
    files["aclImdb/train/urls_pos.txt"] = "http://x"
    return files


@pytest.fixture
def archive(tmp_path) -> Path:
    return write_archive(tmp_path / "small.tar.gz", review_files())


def make(archive, tmp_path, **kwargs) -> imdb.IMDBDataModule:
    kwargs = {
        "data_dir": str(tmp_path / "data"),
        "sha256": None,
        "vocab_size": 20,
        "val_size": 30,
        "batch_size": 16,
        **kwargs,
    }
    return imdb.IMDBDataModule(archive=None if archive is None else str(archive), **kwargs)


def ready(archive, tmp_path, **kwargs) -> imdb.IMDBDataModule:
    dm = make(archive, tmp_path, **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def rows_of(loader, n_cols):
    """Multi-hot rows and labels rebuilt from (indices, offsets, labels) batches."""
    rows, labels = [], []
    for flat, offsets, y in loader:
        bounds = offsets.tolist() + [len(flat)]
        for r in range(len(offsets)):
            row = np.zeros(n_cols, dtype=np.int8)
            row[flat[bounds[r] : bounds[r + 1]].numpy()] = 1
            rows.append(row)
        labels += y.tolist()
    return np.array(rows), np.array(labels)


def test_labels_counts_vocabulary_and_batches(archive, tmp_path, capsys):
    dm = ready(archive, tmp_path)
    out = capsys.readouterr().out
    assert re.search(r"test\s+50 neg\s+50 pos", out) and "train" in out and "val" in out
    assert len(dm.datasets["train"]) == 70 and len(dm.datasets["val"]) == 30 and dm.model_kwargs == {"vocab_size": 20}
    vocab = dm.vocabulary
    assert "testonly" not in vocab and "unsupword" not in vocab and "br" not in vocab
    assert {"great", "awful", "the", "really", "it", "s"} <= set(vocab)
    # The test split in archive order (label, id): rebuild each row from the batches and compare with the texts.
    files = review_files()
    expected_rows, expected_labels = [], []
    for folder, label in (("neg", 0), ("pos", 1)):
        names = sorted(
            (n for n in files if n.startswith(f"aclImdb/test/{folder}/")),
            key=lambda n: int(n.rsplit("/", 1)[1].split("_")[0]),
        )
        for name in names:
            words = set(re.sub(r"[^\w\s]", " ", files[name].replace("<br />", " ").lower()).split())
            expected_rows.append([int(w in words) for w in vocab])
            expected_labels.append(label)
    rows, labels = rows_of(dm.test_dataloader(), len(vocab))
    np.testing.assert_array_equal(rows, np.array(expected_rows))
    np.testing.assert_array_equal(labels, expected_labels)
    # Labels come from the folder: the class words sit on the right side in every split.
    for split in ("train", "val"):
        rows, labels = rows_of(getattr(dm, f"{split}_dataloader")(), len(vocab))
        great, awful = vocab.index("great"), vocab.index("awful")
        assert (labels[rows[:, great] == 1] == 1).all() and (labels[rows[:, awful] == 1] == 0).all()


def test_split_sizes_and_seed(archive, tmp_path):
    a = ready(archive, tmp_path, split_seed=1)
    b = ready(archive, tmp_path, split_seed=1)
    c = ready(archive, tmp_path, split_seed=2)
    assert len(a.split_rows["val"]) == 30 and len(a.split_rows["train"]) == 70
    assert not set(a.split_rows["val"]) & set(a.split_rows["train"])
    np.testing.assert_array_equal(a.split_rows["val"], b.split_rows["val"])
    assert not np.array_equal(a.split_rows["val"], c.split_rows["val"])
    with pytest.raises(OverfitError, match="val_size"):
        ready(archive, tmp_path, val_size=100)


def test_cache_hit_and_key(archive, tmp_path, monkeypatch):
    first = ready(archive, tmp_path)
    cache = first.cache_dir()
    assert sorted(p.name for p in cache.iterdir()) == ["features.npz", "vocab.json"]  # no temp files left

    def boom(*args, **kwargs):
        raise AssertionError("tokenized again despite the cache")

    monkeypatch.setattr(imdb_features, "vectorize", boom)  # where data/features.py tokenizes
    monkeypatch.setattr(imdb_features, "build_vocabulary", boom)
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)
    second = ready(archive, tmp_path)
    assert second.vocabulary == first.vocabulary and second.cache_dir() == cache
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(second.datasets[split].indices, first.datasets[split].indices)
    keys = {
        make(archive, tmp_path, **kw).cache_dir()
        for kw in [{}, {"lowercase": False}, {"strip_html": False}, {"strip_punctuation": False}, {"vocab_size": 10}]
    }
    assert len(keys) == 5
    # Split and batching settings are not part of the key.
    assert make(archive, tmp_path, split_seed=5, batch_size=3).cache_dir() == cache


def test_preprocessing_switches_reach_the_vocabulary(archive, tmp_path):
    assert "br" in ready(archive, tmp_path, strip_html=False, vocab_size=100).vocabulary
    assert "Really" in ready(archive, tmp_path, lowercase=False, vocab_size=100).vocabulary
    assert "really," in ready(archive, tmp_path, strip_punctuation=False, vocab_size=100).vocabulary


def test_train_loader_epochs_and_ddp_shards(archive, tmp_path):
    dm = ready(archive, tmp_path)
    loader = dm.train_dataloader()
    orders = []
    for epoch in (0, 1, 0):
        loader.batch_sampler.sampler.set_epoch(epoch)  # what Lightning calls
        orders.append(sum(list(loader.batch_sampler), []))
    assert orders[0] == orders[2] != orders[1] and sorted(orders[0]) == list(range(70))
    val = [sum(list(dm.val_dataloader().batch_sampler), []) for _ in range(2)]
    assert val[0] == val[1] == list(range(30))  # not shuffled
    shards = {}
    dm.batch_size = 15  # the global batch must split over the 3 ranks (5 rows each per step)
    for rank in range(3):
        dm.trainer = SimpleNamespace(world_size=3, global_rank=rank, is_global_zero=rank == 0)
        shards[rank] = [sum(list(getattr(dm, f"{s}_dataloader")().batch_sampler), []) for s in ("train", "test")]
    train = [shards[r][0] for r in range(3)]
    assert {len(t) for t in train} == {23} and len(set(sum(train, []))) == 69  # 70 rows, 3 ranks: 1 left out
    assert sorted(sum((shards[r][1] for r in range(3)), [])) == list(range(100))


def test_state_dict_round_trip(archive, tmp_path):
    dm = ready(archive, tmp_path)
    torch.save(dm.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state == {
        "vocabulary": "\n".join(dm.vocabulary),  # one string: pickled in one go, not word by word
        "preprocessing": {"lowercase": True, "strip_html": True, "strip_punctuation": True},
    }
    fresh = make(archive, tmp_path)  # predict: no data read, vocabulary from the checkpoint
    fresh.load_state_dict(state)
    assert fresh.model_kwargs == {"vocab_size": 20} and fresh.vocabulary == dm.vocabulary
    older = make(archive, tmp_path)  # checkpoints written before 2026-12-01 hold the vocabulary as a list
    older.load_state_dict({**state, "vocabulary": list(dm.vocabulary)})
    assert older.vocabulary == dm.vocabulary
    with pytest.raises(OverfitError, match="vocabulary"):
        ready(archive, tmp_path, vocab_size=10).load_state_dict(state)


def test_hydra_config(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("OVERFIT_IMDB_ARCHIVE", str(archive))
    data = OmegaConf.load(Path(__file__).parents[1] / "conf" / "data" / "imdb.yaml")
    cfg = OmegaConf.create({"data": data, "paths": {"data_dir": str(tmp_path / "d")}, "seed": 7})
    dm = instantiate(cfg.data)
    assert (dm.archive, dm.seed, dm.vocab_size, dm.batch_size) == (str(archive), 7, 10_000, 512)
    assert set(dm.sha256) == set(imdb_archive.KNOWN_SHA256)
    del cfg["seed"]
    assert instantiate(cfg.data).seed == 0  # falls back to split_seed


def test_lightning_sets_the_epoch(archive, tmp_path):
    """Lightning 2.x calls set_epoch on dataloader.batch_sampler.sampler: each epoch must get its own order."""
    import lightning as L

    class Tiny(L.LightningModule):
        def __init__(self, vocab_size):
            super().__init__()
            self.bag, self.seen = torch.nn.EmbeddingBag(vocab_size, 1, mode="sum"), []

        def training_step(self, batch, batch_idx):
            indices, offsets, labels = batch
            if batch_idx == 0:
                self.seen.append((self.trainer.train_dataloader.batch_sampler.sampler.epoch, labels.tolist()))
            logits = self.bag(indices, offsets).squeeze(-1)
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = ready(archive, tmp_path, seed=3)
    model = Tiny(**dm.model_kwargs)
    L.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    ).fit(model, datamodule=dm)
    assert [epoch for epoch, _ in model.seen] == [0, 1, 2]
    rows = [np.random.default_rng([3, e]).permutation(70)[:16] for e in range(3)]
    labels = dm.datasets["train"].labels.numpy()
    assert [first for _, first in model.seen] == [labels[r].tolist() for r in rows]
