"""A numeric matrix (Iris by default, or any CSV) served as one full batch per training step.

    dm = MatrixDataModule()                    # Iris measurements, 150 x 4, column-centered
    dm = MatrixDataModule(path="my.csv")       # any numeric CSV (an optional header row is skipped)
    dm.prepare_data(); dm.setup("fit")
    model = LowRankFactorization(rank=2, **dm.model_kwargs)

Full-batch gradient descent needs the same tensor at every step. A dataloader that yields the matrix once per
"epoch" would run Lightning's epoch loop (and its hooks) once per step, so the train dataset instead has
`steps_per_epoch` items that are all the same tensor: one epoch = many optimizer steps.
"""

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from overfit.data.csv_matrix import FLOAT32_MAX, load_csv_matrix
from overfit.errors import OverfitError

__all__ = ["MatrixDataModule", "check_rank", "load_csv_matrix"]


def check_rank(rank: int, shape) -> None:
    """A rank-r factorization of an m x n matrix is only a problem to solve for 1 <= r < min(m, n)."""
    m, n = (int(d) for d in shape)
    if not 1 <= rank < min(m, n):
        raise OverfitError(
            f"model.rank={rank} does not fit a {m}x{n} matrix: pick 1 <= model.rank <= {min(m, n) - 1} "
            "(rank >= min(m, n) reconstructs A exactly, nothing to learn)"
        )


class _RepeatedTensor(Dataset):
    """`length` items, each the same tensor (no copy): one item = one full-batch step."""

    def __init__(self, tensor: torch.Tensor, length: int):
        self.tensor, self.length = tensor, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensor


class MatrixDataModule(L.LightningDataModule):
    """The matrix A to factorize. No validation or test set: the training loss is the whole story."""

    def __init__(
        self, path: str | None = None, center: bool = True, steps_per_epoch: int = 1000, rank: int | None = None
    ):
        super().__init__()
        if steps_per_epoch < 1:
            raise OverfitError(f"data.steps_per_epoch={steps_per_epoch}: must be >= 1, e.g. data.steps_per_epoch=1000")
        self.path, self.center, self.steps_per_epoch = path, center, steps_per_epoch
        # The model's rank (conf/data/iris.yaml: ${model.rank}), checked here because the model's own check runs
        # inside hydra.utils.instantiate, which would wrap our one-line error in its own multi-line one.
        self.rank = rank
        self.matrix: torch.Tensor | None = None  # float32, what the model trains on
        self.singular_values: torch.Tensor | None = None  # float64, of the same (centered) matrix

    def setup(self, stage: str | None = None) -> None:
        if self.matrix is not None:
            return
        if self.path is None:
            from sklearn.datasets import load_iris  # ships with scikit-learn: no download

            a = torch.tensor(load_iris().data, dtype=torch.float64)
            name = "Iris"
        else:
            a, name = load_csv_matrix(self.path), f"data.path={self.path!r}"
        if not a.isfinite().all():  # load_csv_matrix refuses these itself, naming the line: this guards Iris
            row, col = (int(i) + 1 for i in (~a.isfinite()).nonzero()[0])
            raise OverfitError(
                f"{name} has {float(a[row - 1, col - 1])} at row {row}, column {col}: fill or drop it first"
            )
        if min(a.shape) < 2:
            raise OverfitError(
                f"{name} is {a.shape[0]}x{a.shape[1]}: a factorization needs at least 2 rows and 2 columns"
            )
        if self.rank is not None:
            check_rank(self.rank, a.shape)
        if self.center:
            a = a - a.mean(dim=0, keepdim=True)
        # The first training loss is about the sum of squares: past float32's max it is inf at step 0, whatever the
        # learning rate (with |entries| <= MAX_ABS that takes ~1e8 of them, but the bound is on the sum).
        sum_sq = float(a.square().sum())
        if not sum_sq < FLOAT32_MAX / 4:  # / 4: room for (U @ V - A)^2 with U @ V of A's size
            raise OverfitError(
                f"{name}: the sum of squares of the matrix, {sum_sq:.3g}, is beyond what the float32 training loss "
                f"can hold ({FLOAT32_MAX / 4:.3g}): rescale the data, e.g. divide it by a power of 10"
            )
        self.matrix = a.float()
        # Eckart-Young: the best rank-r loss is the sum of the squared singular values beyond r. Taken from the
        # float32 matrix the model sees (in float64), so the optimum and the training loss describe the same A.
        self.singular_values = torch.linalg.svd(self.matrix.double(), full_matrices=False).S

    @property
    def model_kwargs(self) -> dict:
        """What the model needs to know about the data (plain Python types: they pass through Hydra's instantiate)."""
        if self.matrix is None:
            raise RuntimeError("call setup('fit') before reading model_kwargs")
        return {"matrix_shape": list(self.matrix.shape), "singular_values": self.singular_values.tolist()}

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: no collation, each item is the full matrix as is; num_workers=0: nothing to parallelize.
        return DataLoader(_RepeatedTensor(self.matrix, self.steps_per_epoch), batch_size=None, num_workers=0)
