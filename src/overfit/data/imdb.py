"""IMDB reviews -> binary bag-of-words batches for nn.EmbeddingBag, as a LightningDataModule.

    dm = IMDBDataModule(archive="/work/shared/data/imdb/aclImdb_v1_labeled.tar.gz", data_dir="data")
    dm.prepare_data()      # locate/download + verify the archive, read 50k reviews, vectorize, cache (~10 s, once)
    dm.setup("fit")        # load the cache (<1 s), split 15k train / 10k val; test = the 25k test reviews
    model = BagOfWordsMLP(**dm.model_kwargs, ...)
    for indices, offsets, labels in dm.train_dataloader(): ...

Hydra builds it from conf/data/imdb.yaml. The vocabulary comes from the 25k training reviews only (never test).
The cache lives in <data_dir>/cache/<key>/, key = hash(archive SHA-256, preprocessing, vocab_size).
"""

import hashlib
import json
import os
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only
import numpy as np
from torch.utils.data import DataLoader

from overfit.data import archive as imdb_archive
from overfit.data.batches import CSRDataset, EpochBatchSampler, EpochSampler, identity
from overfit.data.text import build_vocabulary, gather_rows, vectorize
from overfit.errors import OverfitError

CACHE_FORMAT = 1  # bump when the cache layout or the tokenizer changes, so old caches are never reused


def _atomic_write(path: Path, write) -> None:
    """write(file) into a temp file beside `path`, then os.replace: a crash never leaves a half file at `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _take(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A CSR matrix of the given rows (copied: 15k/10k rows cost ~20 ms)."""
    flat, offsets = gather_rows(indptr, indices, rows)
    return np.append(offsets, len(flat)), flat


class IMDBDataModule(L.LightningDataModule):
    """IMDB sentiment (pos=1, neg=0): 15k train / 10k val from the official train split, 25k test."""

    def __init__(self, archive: str | None = None, data_dir: str = "data",
                 url: str = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                 sha256: list[str] | str | None = tuple(imdb_archive.KNOWN_SHA256), vocab_size: int = 10_000,
                 lowercase: bool = True, strip_html: bool = True, strip_punctuation: bool = True,
                 val_size: int = 10_000, split_seed: int = 0, seed: int | None = None, batch_size: int = 512,
                 num_workers: int = 0):
        super().__init__()
        for name, value, low in [("vocab_size", vocab_size, 1), ("val_size", val_size, 1),
                                 ("batch_size", batch_size, 1), ("num_workers", num_workers, 0)]:
            if not isinstance(value, int) or value < low:
                raise OverfitError(f"data.{name}={value!r} is invalid: use an integer >= {low}")
        self.archive = str(archive) if archive not in (None, "") else None  # OVERFIT_IMDB_ARCHIVE="" means unset
        self.data_dir, self.url = str(data_dir), url
        self.sha256 = [sha256] if isinstance(sha256, str) else (None if sha256 is None else list(sha256))
        self.vocab_size, self.val_size, self.split_seed = vocab_size, val_size, split_seed
        self.seed = split_seed if seed is None else seed  # the train config passes the run's ${seed}
        self.batch_size, self.num_workers = batch_size, num_workers
        self.preprocessing = {"lowercase": bool(lowercase), "strip_html": bool(strip_html),
                              "strip_punctuation": bool(strip_punctuation)}
        self.vocabulary: list[str] | None = None
        self.datasets: dict[str, CSRDataset] = {}
        self._checksum: str | None = None

    # ---- archive -> cache -------------------------------------------------------------------------------------
    def cache_dir(self, download: bool = True) -> Path:
        """<data_dir>/cache/<key>/; locating (maybe downloading) and hashing the archive once per process."""
        if self._checksum is None:
            path = imdb_archive.locate(self.archive, self.data_dir, self.url, download=download)
            if not path.is_file():  # setup() on a rank whose prepare_data did not run, and no archive here
                raise OverfitError(f"no IMDB archive at {str(path)!r}: run prepare_data() first, or "
                                   f"set data.archive=... / OVERFIT_IMDB_ARCHIVE")
            self._archive_path, self._checksum = path, imdb_archive.verify(path, self.sha256)
        key = json.dumps({"format": CACHE_FORMAT, "archive_sha256": self._checksum, "vocab_size": self.vocab_size,
                          **self.preprocessing}, sort_keys=True)
        return Path(self.data_dir).expanduser() / "cache" / hashlib.sha256(key.encode()).hexdigest()[:16]

    def prepare_data(self) -> None:
        """Locate/download, verify, read, vectorize and cache; a no-op when the cache for these settings exists."""
        cache = self.cache_dir()
        if (cache / "vocab.json").is_file():  # written last, so its presence means the cache is complete
            return
        reviews = imdb_archive.read_reviews(self._archive_path, self._checksum)
        train_texts = [r[3] for r in reviews["train"]]
        vocabulary = build_vocabulary(train_texts, self.vocab_size, **self.preprocessing)  # train split only
        arrays = {}
        for split, texts in [("train", train_texts), ("test", [r[3] for r in reviews["test"]])]:
            arrays[f"{split}_indptr"], arrays[f"{split}_indices"] = vectorize(texts, vocabulary, **self.preprocessing)
            arrays[f"{split}_labels"] = np.array([r[0] for r in reviews[split]], dtype=np.int8)
            arrays[f"{split}_ids"] = np.array([r[1] for r in reviews[split]], dtype=np.int32)
        cache.mkdir(parents=True, exist_ok=True)
        _atomic_write(cache / "features.npz", lambda f: np.savez(f, **arrays))
        meta = {"vocabulary": vocabulary, "preprocessing": self.preprocessing, "archive_sha256": self._checksum}
        _atomic_write(cache / "vocab.json", lambda f: f.write(json.dumps(meta).encode()))

    def setup(self, stage: str | None = None) -> None:
        """Load the cache and build train/val (seeded by split_seed) and test datasets; prints the class counts."""
        fit_splits = stage != "test"  # eval.py needs the test split only (and no val_size check)
        if "test" in self.datasets and ("train" in self.datasets or not fit_splits):
            return
        cache = self.cache_dir(download=False)
        if not (cache / "vocab.json").is_file():
            self.prepare_data()
        with open(cache / "vocab.json") as f:
            vocabulary = json.load(f)["vocabulary"]
        self._set_vocabulary(vocabulary, self.preprocessing)
        with np.load(cache / "features.npz") as npz:
            arrays = {name: npz[name] for name in npz.files}
        n_train = len(arrays["train_labels"])
        if fit_splits and self.val_size >= n_train:
            raise OverfitError(f"data.val_size={self.val_size} leaves no training reviews (the archive has "
                               f"{n_train}): use a smaller data.val_size")
        perm = np.random.default_rng(self.split_seed).permutation(n_train)
        # Row numbers into the official train split (ordered by label, then review id); kept for inspection.
        self.split_rows = {"train": np.sort(perm[self.val_size:]), "val": np.sort(perm[: self.val_size])}
        for split, rows in self.split_rows.items() if fit_splits else ():
            indptr, indices = _take(arrays["train_indptr"], arrays["train_indices"], rows)
            self.datasets[split] = CSRDataset(indptr, indices, arrays["train_labels"][rows])
        self.datasets["test"] = CSRDataset(arrays["test_indptr"], arrays["test_indices"], arrays["test_labels"])
        if rank_zero_only.rank == 0:  # set from the launcher's env before any Trainer exists
            lines = [f"  {s:<5} {int((d.labels == 0).sum()):>6,} neg {int((d.labels == 1).sum()):>6,} pos"
                     for s, d in self.datasets.items()]
            print(f"IMDB class counts ({len(self.vocabulary):,} words, cache {cache}):\n" + "\n".join(lines))

    # ---- model / checkpoint interface ------------------------------------------------------------------------
    @property
    def model_kwargs(self) -> dict:
        if self.vocabulary is None:
            raise OverfitError("IMDBDataModule.model_kwargs needs the vocabulary: "
                               "call prepare_data() and setup() first")
        return {"vocab_size": len(self.vocabulary)}

    def state_dict(self) -> dict:
        """Plain Python only, so checkpoints load with torch.load(weights_only=True); predict.py rebuilds from it."""
        return {"vocabulary": list(self.vocabulary or []), "preprocessing": dict(self.preprocessing)}

    def load_state_dict(self, state_dict: dict) -> None:
        self._set_vocabulary(list(state_dict["vocabulary"]), dict(state_dict["preprocessing"]))

    def _set_vocabulary(self, vocabulary: list[str], preprocessing: dict) -> None:
        if self.vocabulary is not None and (vocabulary != self.vocabulary or preprocessing != self.preprocessing):
            raise OverfitError(f"the checkpoint's vocabulary ({len(vocabulary)} words, {preprocessing}) differs from "
                               f"this data config's ({len(self.vocabulary)} words, {self.preprocessing}): "
                               f"use the data settings the checkpoint was trained with")
        self.vocabulary, self.preprocessing = vocabulary, preprocessing

    # ---- dataloaders ------------------------------------------------------------------------------------------
    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            raise OverfitError(f"IMDBDataModule.{split}_dataloader(): call setup() first")
        rank, world_size = 0, 1
        if self.trainer is not None and self.trainer.world_size > 1:  # DDP: Trainer(use_distributed_sampler=False)
            rank, world_size = self.trainer.global_rank, self.trainer.world_size
        rows = EpochSampler(len(self.datasets[split]), shuffle=shuffle, seed=self.seed, rank=rank,
                            world_size=world_size)
        sampler = EpochBatchSampler(rows, self.batch_size, drop_last=False)
        return DataLoader(self.datasets[split], batch_sampler=sampler, collate_fn=identity,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
