"""Sparse bag-of-words batches for nn.EmbeddingBag: a CSR Dataset fetched a batch at a time + an epoch-seeded sampler.

    sampler = EpochBatchSampler(EpochSampler(len(labels), shuffle=True, seed=0), batch_size=512, drop_last=False)
    loader = DataLoader(CSRDataset(indptr, indices, labels), batch_sampler=sampler, collate_fn=identity)
    for indices, offsets, labels in loader: ...   # LongTensor[nnz], LongTensor[B], FloatTensor[B]

On a GPU (data.device_batches: auto) DeviceBatches replaces the DataLoader: the split lives on the device and each
epoch's batches are cut there, in the same order, with no host copy or sync per step.

Why not a per-row Dataset + collate: 30 batches x 512 rows of Python per-row work per epoch is the bottleneck of a
model this small; one numpy gather per batch is ~100x cheaper.
"""

import numpy as np
import torch
from torch.utils.data import BatchSampler, Dataset, Sampler

from overfit.data.text import gather_rows
from overfit.errors import OverfitError


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


def check_global_batch(batch_size: int, ranks: int) -> None:
    """data.batch_size is the global batch: under DDP each of the `ranks` takes batch_size / ranks rows."""
    if batch_size % ranks:
        raise OverfitError(
            f"data.batch_size={batch_size} is the global batch and must split evenly over {ranks} DDP ranks: use a "
            f"multiple of {ranks}, e.g. data.batch_size={batch_size // ranks * ranks or ranks}"
        )


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

    def order(self) -> np.ndarray:
        """This rank's row ids for the current epoch, in order (what iterating yields)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        if self.drop_uneven:
            order = order[: self.n - self.n % self.world_size]
        return order[self.rank :: self.world_size]

    def __iter__(self):
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.n - self.n % self.world_size if self.drop_uneven else self.n, self.world_size))


class EpochBatchSampler(BatchSampler):
    """torch's BatchSampler over an EpochSampler; set_epoch forwarded for code that calls it on the batch sampler."""

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)


class DeviceBatches:
    """An epoch's batches built on `device` from a split kept there: the same batches, in the same order, as
    DataLoader(CSRDataset, batch_sampler=EpochBatchSampler(sampler, batch_size)) yields, but no per-step host work.

    Per epoch: one copy of the epoch's row order (host -> device, ~15k int64) and one gather of the epoch's word
    ids into a flat array on the device; the batch boundaries come from the host's copy of indptr, so a step is
    three slices and a subtraction, no host-device sync. On a GPU a step otherwise gathers ~66k word ids in numpy
    and copies them over (pageable memory, blocking). Lightning calls set_epoch on `.sampler` (a resumed run too).
    Memory on the device: the split (~26 MB for 15k reviews as int64) plus one epoch's gathered copy.
    """

    batch_sampler = None  # Lightning reads it (as on a DataLoader) to decide whether val/test are shuffled

    def __init__(self, dataset: CSRDataset, sampler: EpochSampler, batch_size: int, device: torch.device):
        self.sampler, self.batch_size, self.device = sampler, batch_size, torch.device(device)
        self.indptr = np.asarray(dataset.indptr, dtype=np.int64)
        self.indptr_d = torch.from_numpy(self.indptr).to(self.device)
        self.indices_d = torch.from_numpy(np.asarray(dataset.indices, dtype=np.int64)).to(self.device)
        self.labels_d = dataset.labels.to(self.device)

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self):
        rows = self.sampler.order().astype(np.int64)
        if len(rows) == 0:
            return
        ends = np.cumsum(self.indptr[rows + 1] - self.indptr[rows])  # host: every batch's end in the flat array
        rows_d = torch.from_numpy(rows).to(self.device)
        starts_d = self.indptr_d[rows_d]
        lengths_d = self.indptr_d[rows_d + 1] - starts_d
        offsets_d = torch.cumsum(lengths_d, 0) - lengths_d  # each row's start in the epoch's flat array
        total = int(ends[-1])
        # Position p of the flat array reads indices[starts[r] + p - offsets[r]] for the row r it falls in;
        # output_size known on the host: repeat_interleave needs no sync to size its result.
        shift = torch.repeat_interleave(starts_d - offsets_d, lengths_d, output_size=total)
        flat_d = self.indices_d[shift + torch.arange(total, device=self.device)]
        labels_d = self.labels_d[rows_d]
        for lo in range(0, len(rows), self.batch_size):
            hi = min(lo + self.batch_size, len(rows))
            first = int(ends[lo - 1]) if lo else 0
            yield flat_d[first : int(ends[hi - 1])], offsets_d[lo:hi] - first, labels_d[lo:hi]
