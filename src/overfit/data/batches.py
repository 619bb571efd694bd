"""Sparse bag-of-words batches for nn.EmbeddingBag: a CSR Dataset fetched a batch at a time + an epoch-seeded sampler.

    sampler = EpochBatchSampler(EpochSampler(len(labels), shuffle=True, seed=0), batch_size=512, drop_last=False)
    loader = DataLoader(CSRDataset(indptr, indices, labels), batch_sampler=sampler, collate_fn=identity)
    for indices, offsets, labels in loader: ...   # LongTensor[nnz], LongTensor[B], FloatTensor[B]

Why not a per-row Dataset + collate: 30 batches x 512 rows of Python per-row work per epoch is the bottleneck of a
model this small; one numpy gather per batch is ~100x cheaper.
"""

import numpy as np
import torch
from torch.utils.data import BatchSampler, Dataset, Sampler

from overfit.data.text import gather_rows


def identity(batch):
    """collate_fn: __getitems__ already returns the finished batch (module-level so workers can pickle it)."""
    return batch


class CSRDataset(Dataset):
    """Rows of a binary CSR matrix with their labels; DataLoader's batched fetch calls __getitems__(rows)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, labels: np.ndarray):
        self.indptr, self.indices = indptr, indices
        self.labels = torch.as_tensor(labels, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = np.asarray(rows, dtype=np.int64)
        flat, offsets = gather_rows(self.indptr, self.indices, rows)
        return torch.from_numpy(flat.astype(np.int64)), torch.from_numpy(offsets), self.labels[torch.from_numpy(rows)]

    def __getitem__(self, row: int):
        return self.__getitems__([row])  # a batch of one: the same (indices, offsets, labels) shape contract


class EpochSampler(Sampler[int]):
    """Row ids; epoch e's order is default_rng([seed, e]).permutation(n), so a resumed run sees the same order.

    With world_size > 1 each rank takes a disjoint strided share order[rank::world_size]. For training
    (drop_uneven, the default when shuffling) the order is first cut to a multiple of world_size so all ranks
    see equally many rows (at most world_size - 1 rows skipped per epoch, different ones each epoch).
    Val/test keep every row (shares then differ by at most one row): their metrics cover the split exactly once.
    """

    def __init__(
        self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, drop_uneven: bool | None = None
    ):
        self.n, self.shuffle, self.seed, self.rank, self.world_size = n, shuffle, seed, rank, world_size
        self.drop_uneven = shuffle if drop_uneven is None else drop_uneven
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at the start of every epoch (resumed ones too) via dataloader.batch_sampler.sampler."""
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        if self.drop_uneven:
            order = order[: self.n - self.n % self.world_size]
        return iter(order[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.n - self.n % self.world_size if self.drop_uneven else self.n, self.world_size))


class EpochBatchSampler(BatchSampler):
    """torch's BatchSampler over an EpochSampler; set_epoch forwarded for code that calls it on the batch sampler."""

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
