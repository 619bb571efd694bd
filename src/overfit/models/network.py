"""The IMDB classifier's network alone, in plain PyTorch: what predict.py needs from a checkpoint, without Lightning.

    vocab (multi-hot, sparse) -> SparseLinear (EmbeddingBag sum + bias) -> [ReLU -> Dropout -> Linear]* -> logit

`layers()` builds the two parts under the names a checkpoint's state_dict uses (`input.*`, `head.*`), in the order
the seeded initialization draws them. BagOfWordsMLP (mlp.py, the LightningModule that trains the network) builds
itself with the same function, so its checkpoints load here unchanged (tests/test_models.py checks both ways).
Why apart: importing Lightning (and the torchmetrics and scipy.signal it imports) costs ~4.5 s more than torch
alone on the 2-core machine (2026-12-08: 6.7 s against 2.0 s), which is most of what `predict.py` took.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from overfit.errors import OverfitError
from overfit.models.sparse_linear import SparseLinear


def check_hparams(vocab_size: int, hidden: list[int], dropout: float) -> None:
    if vocab_size < 1:
        raise OverfitError(f"vocab_size={vocab_size}: the vocabulary is empty; check data.vocab_size and the archive")
    if not hidden or min(hidden) < 1:
        raise OverfitError(f"model.hidden={hidden}: every hidden size must be >= 1, e.g. model.hidden=[16,16]")
    if not 0.0 <= dropout < 1.0:
        raise OverfitError(f"model.dropout={dropout}: must be in [0, 1), e.g. model.dropout=0.5")


def layers(vocab_size: int, hidden: Sequence[int], dropout: float) -> tuple[SparseLinear, nn.Sequential]:
    """(the first layer, the rest up to the logit), checked; Dropout after each hidden ReLU (p = 0: a no-op)."""
    hidden = [int(h) for h in hidden]
    check_hparams(vocab_size, hidden, dropout)
    first = SparseLinear(vocab_size, hidden[0])
    rest: list[nn.Module] = []
    for width_in, width_out in zip(hidden, hidden[1:] + [1]):
        rest += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(width_in, width_out)]
    return first, nn.Sequential(*rest)


def parameter_count(vocab_size: int, hidden: Sequence[int]) -> int:
    """How many weights `layers(vocab_size, hidden, ...)` builds, without building them."""
    widths = [int(vocab_size), *map(int, hidden), 1]
    return sum(w_in * w_out + w_out for w_in, w_out in zip(widths, widths[1:]))


class BagOfWordsNet(nn.Module):
    """The network of a BagOfWordsMLP checkpoint; built from its hyper_parameters (variant: a label only)."""

    def __init__(self, vocab_size: int, hidden: Sequence[int] = (16, 16), dropout: float = 0.0, variant: str = ""):
        super().__init__()
        self.variant = variant
        self.input, self.head = layers(vocab_size, hidden, dropout)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,). Apply a sigmoid for P(positive)."""
        return self.head(self.input(indices, offsets)).squeeze(-1)

    def predict_step(self, batch, batch_idx: int = 0) -> torch.Tensor:
        """P(positive), as BagOfWordsMLP.predict_step gives it."""
        return torch.sigmoid(self(batch[0], batch[1]))
