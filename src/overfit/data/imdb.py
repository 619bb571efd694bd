"""IMDB reviews -> binary bag-of-words batches for nn.EmbeddingBag, as a LightningDataModule.

    dm = IMDBDataModule(archive="/work/shared/data/imdb/aclImdb_v1_labeled.tar.gz", data_dir="data")
    dm.prepare_data()      # locate/download + verify the archive, read 50k reviews, vectorize, cache (~10 s, once)
    dm.setup("fit")        # load the cache (<1 s), split 15k train / 10k val; test = the 25k test reviews
    model = BagOfWordsMLP(**dm.model_kwargs, ...)
    for indices, offsets, labels in dm.train_dataloader(): ...

Hydra builds it from conf/data/imdb.yaml. The vocabulary comes from the 25k training reviews only (never test).
The vectorized reviews are cached in <data_dir>/cache/<key>/ (data/cache.py: key, checks, lock, atomic writes);
a damaged cache is rebuilt here with one warning line.
"""

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

from overfit import shown
from overfit.data import archive as imdb_archive
from overfit.data import cache as feature_cache
from overfit.data.batches import (
    CSRDataset,
    DeviceBatches,
    EpochBatchSampler,
    EpochSampler,
    check_global_batch,
    identity,
)
from overfit.data.features import features
from overfit.data.text import gather_rows, vocabulary_list
from overfit.errors import OverfitError

log = logging.getLogger(__name__)


class IMDBDataModule(L.LightningDataModule):
    """IMDB sentiment (pos=1, neg=0): 15k train / 10k val from the official train split, 25k test."""

    def __init__(
        self,
        archive: str | None = None,
        data_dir: str = "data",
        url: str = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        sha256: list[str] | str | None = tuple(imdb_archive.KNOWN_SHA256),
        vocab_size: int = 10_000,
        lowercase: bool = True,
        strip_html: bool = True,
        strip_punctuation: bool = True,
        val_size: int = 10_000,
        train_size: int | None = None,
        split_seed: int = 0,
        seed: int | None = None,
        batch_size: int = 512,
        eval_batch_size: int | None = 10_000,
        num_workers: int = 0,
        device_batches: bool | None = None,
    ):
        super().__init__()
        eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size  # null: as for training
        for name, value, low in [
            ("vocab_size", vocab_size, 1),
            ("val_size", val_size, 1),
            ("batch_size", batch_size, 1),
            ("eval_batch_size", eval_batch_size, 1),
            ("num_workers", num_workers, 0),
        ]:
            if not isinstance(value, int) or value < low:
                raise OverfitError(f"data.{name}={value!r} is invalid: use an integer >= {low}")
        if device_batches is not None and not isinstance(device_batches, bool):
            raise OverfitError(f"data.device_batches={device_batches!r} is invalid: use true, false or null (on a GPU)")
        if train_size is not None and (
            isinstance(train_size, bool) or not isinstance(train_size, int) or train_size < 1
        ):
            raise OverfitError(
                f"data.train_size={train_size!r} is invalid: use an integer >= 1 (a number of "
                f"training reviews), or null for all of them"
            )
        self.archive = str(archive) if archive not in (None, "") else None  # OVERFIT_IMDB_ARCHIVE="" means unset
        self.data_dir, self.url = str(data_dir), url
        self.sha256 = [sha256] if isinstance(sha256, str) else (None if sha256 is None else list(sha256))
        self.vocab_size, self.val_size, self.split_seed = vocab_size, val_size, split_seed
        self.train_size, self.device_batches = train_size, device_batches
        if train_size is not None and self.sha256 and all(s.lower() in imdb_archive.KNOWN_SHA256 for s in self.sha256):
            self._check_train_size(2 * imdb_archive.REVIEWS_PER_CLASS)  # only known archives: 25k training reviews
        self.seed = split_seed if seed is None else seed  # the train config passes the run's ${seed}
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.preprocessing = {
            "lowercase": bool(lowercase),
            "strip_html": bool(strip_html),
            "strip_punctuation": bool(strip_punctuation),
        }
        self.vocabulary: list[str] | None = None
        self.datasets: dict[str, CSRDataset] = {}
        self._checksum: str | None = None

    # ---- archive -> cache -------------------------------------------------------------------------------------
    def cache_dir(self, download: bool = True) -> Path:
        """<data_dir>/cache/<key>/; locating (maybe downloading) and hashing the archive once per process."""
        if self._checksum is None:
            path = imdb_archive.locate(self.archive, self.data_dir, self.url, download=download)
            if not path.is_file():  # setup() on a rank whose prepare_data did not run, and no archive here
                raise OverfitError(
                    f"no IMDB archive at {str(path)!r}: run prepare_data() first, or "
                    f"set data.archive=... / OVERFIT_IMDB_ARCHIVE"
                )
            self._archive_path, self._checksum = path, imdb_archive.verify(path, self.sha256)
        return feature_cache.cache_path(self.data_dir, self._checksum, self.vocab_size, self.preprocessing)

    def prepare_data(self) -> None:
        """Locate/download, verify, read, vectorize and cache; a no-op when the cache for these settings exists.

        Its contents are checked when setup() loads it (a damaged cache is rebuilt there)."""
        cache = self.cache_dir()
        feature_cache.clean_stale_temps(cache)
        missing = [name for name in feature_cache.CACHE_FILES if not (cache / name).is_file()]
        if missing:
            self._build_cache(cache, f"{missing[0]} is missing" if len(missing) == 1 else None)

    def _load_cache(self, cache: Path) -> tuple[list[str], dict[str, np.ndarray]]:
        """(vocabulary, arrays) of a complete, consistent cache for these settings; raises CacheDamaged."""
        return feature_cache.load_cache(cache, self.vocab_size, self.preprocessing, self._checksum)

    def _build_cache(self, cache: Path, damage: str | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
        """Read the archive, vectorize and write the cache (or use the one another process built meanwhile).

        `damage`: what is wrong with the cache there now (None: nothing there); named if it cannot be rebuilt."""
        feature_cache.check_writable(cache, self.data_dir, damage)
        with feature_cache.cache_lock(cache):
            try:
                return self._load_cache(cache)  # finished by another process while we waited for the lock
            except feature_cache.CacheDamaged as problem:
                if any((cache / name).exists() for name in feature_cache.CACHE_FILES):  # else a first build: no word
                    log.warning(f"feature cache {cache} is damaged ({problem}): rebuilding it")
            feature_cache.clean_stale_temps(cache)
            vocabulary, arrays = features(self._archive_path, self._checksum, self.vocab_size, self.preprocessing)
            feature_cache.write_cache(cache, vocabulary, arrays, self.preprocessing, self._checksum)
            return vocabulary, arrays

    def _check_train_size(self, n_train: int) -> None:
        available = n_train - self.val_size
        if self.train_size is not None and self.train_size > available:
            raise OverfitError(
                f"data.train_size={self.train_size} is more than the {available:,} training reviews "
                f"(the archive's {n_train:,} minus data.val_size={self.val_size}): use at most "
                f"{available}, or null for all of them"
            )

    def setup(self, stage: str | None = None) -> None:
        """Load the cache and build train/val (seeded by split_seed) and test datasets; prints the class counts.

        data.train_size=N trains on the first N rows of the same seeded permutation whose first val_size rows are
        the validation split: disjoint from it, the same for every N, and nested (N=500 lies inside N=1000)."""
        fit_splits = stage != "test"  # eval.py needs the test split only (and no val_size check)
        if "test" in self.datasets and ("train" in self.datasets or not fit_splits):
            return
        cache = self.cache_dir(download=False)
        try:
            vocabulary, arrays = self._load_cache(cache)
        except feature_cache.CacheDamaged as damage:  # rebuilt with one warning line (none if there was no cache)
            present = any((cache / name).exists() for name in feature_cache.CACHE_FILES)
            vocabulary, arrays = self._build_cache(cache, str(damage) if present else None)
        self._set_vocabulary(vocabulary, self.preprocessing)
        n_train = len(arrays["train_labels"])
        if fit_splits and self.val_size >= n_train:
            raise OverfitError(
                f"data.val_size={self.val_size} leaves no training reviews (the archive has "
                f"{n_train}): use a smaller data.val_size"
            )
        if fit_splits:
            self._check_train_size(n_train)
        perm = np.random.default_rng(self.split_seed).permutation(n_train)
        end = n_train if self.train_size is None else self.val_size + self.train_size
        # Row numbers into the official train split (ordered by label, then review id); kept for inspection.
        self.split_rows = {"train": np.sort(perm[self.val_size : end]), "val": np.sort(perm[: self.val_size])}
        for split, rows in self.split_rows.items() if fit_splits else ():
            flat, offsets = gather_rows(arrays["train_indptr"], arrays["train_indices"], rows)  # copied: ~20 ms
            self.datasets[split] = CSRDataset(np.append(offsets, len(flat)), flat, arrays["train_labels"][rows])
        self.datasets["test"] = CSRDataset(arrays["test_indptr"], arrays["test_indices"], arrays["test_labels"])
        if rank_zero_only.rank == 0:  # set from the launcher's env before any Trainer exists
            subset = f"  (data.train_size={self.train_size} of {n_train - self.val_size:,})" if self.train_size else ""
            lines = [
                f"  {s:<5} {int((d.labels == 0).sum()):>6,} neg {int((d.labels == 1).sum()):>6,} pos"
                + (subset if s == "train" else "")
                for s, d in self.datasets.items()
            ]
            shown.show(f"IMDB class counts ({len(self.vocabulary):,} words, cache {cache}):\n" + "\n".join(lines))

    # ---- model / checkpoint interface ------------------------------------------------------------------------
    @property
    def model_kwargs(self) -> dict:
        if self.vocabulary is None:
            raise OverfitError("IMDBDataModule.model_kwargs needs the vocabulary: call prepare_data(), setup() first")
        return {"vocab_size": len(self.vocabulary)}

    def state_dict(self) -> dict:
        """Plain Python only, so checkpoints load with torch.load(weights_only=True); predict.py rebuilds from it."""
        # One newline-joined string (no word holds whitespace): torch.save pickled a list word by word, ~5 ms.
        return {"vocabulary": "\n".join(self.vocabulary or []), "preprocessing": dict(self.preprocessing)}

    def load_state_dict(self, state_dict: dict) -> None:
        self._set_vocabulary(vocabulary_list(state_dict["vocabulary"]), dict(state_dict["preprocessing"]))

    def _set_vocabulary(self, vocabulary: list[str], preprocessing: dict) -> None:
        if self.vocabulary is not None and (vocabulary != self.vocabulary or preprocessing != self.preprocessing):
            raise OverfitError(
                f"the checkpoint's vocabulary ({len(vocabulary)} words, {preprocessing}) differs from "
                f"this data config's ({len(self.vocabulary)} words, {self.preprocessing}): "
                f"use the data settings the checkpoint was trained with"
            )
        self.vocabulary, self.preprocessing = vocabulary, preprocessing

    # ---- dataloaders ------------------------------------------------------------------------------------------
    def _loader(self, split: str, shuffle: bool, whole: bool = False) -> DataLoader | DeviceBatches:
        if split not in self.datasets:
            raise OverfitError(f"IMDBDataModule.{split}_dataloader(): call setup() first")
        # DDP: Trainer(use_distributed_sampler=False); `whole`: every row in this process, whatever the world size
        ddp = not whole and self.trainer is not None and self.trainer.world_size > 1
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if ddp else (0, 1)
        # data.batch_size is the global batch: under DDP each rank takes batch_size / world_size rows of the strided
        # share, so step k of all ranks together covers the rows step k covers on one device (same steps, same lr).
        check_global_batch(self.batch_size, world_size)
        rows = EpochSampler(len(self.datasets[split]), shuffle, self.seed, rank, world_size)
        # Validation and test: few large batches. Their metrics are sums over rows (the same for any batch size),
        # and each step costs Lightning's loop ~1 ms whatever its size: 20 steps of 512 per epoch were a third of a
        # `baseline` fit. Under DDP the eval batch splits as evenly as it goes (the sums do not care).
        per_rank = self.batch_size // world_size if shuffle else -(-self.eval_batch_size // world_size)
        strategy = getattr(self.trainer, "strategy", None)
        device = strategy.root_device if strategy is not None else torch.device("cpu")
        if self.device_batches or (self.device_batches is None and device.type == "cuda"):
            return DeviceBatches(self.datasets[split], rows, per_rank, device)  # the split on the device
        return DataLoader(
            self.datasets[split],
            batch_sampler=EpochBatchSampler(rows, per_rank, drop_last=False),
            collate_fn=identity,
            pin_memory=device.type == "cuda",  # device_batches=false on a GPU: the non_blocking copy overlaps
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def train_eval_dataloader(self) -> DataLoader:
        """The train split in validation's order and batches (BagOfWordsMLP.on_train_end: train acc, dropout off)."""
        return self._loader("train", shuffle=False)

    def whole_split_dataloader(self, split: str) -> DataLoader:
        """All of a split in this one process, in validation's order and batches, even under DDP (temperature
        scaling after the test: train.py, on rank 0)."""
        return self._loader(split, shuffle=False, whole=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
