"""`nn.Linear` on a multi-hot vector, computed from the vector's nonzero indices only.

A review has ~130 distinct words out of 10,000, so the first layer is an `nn.EmbeddingBag(mode="sum")`
plus a bias: the same function as `nn.Linear(10_000, hidden)` on the 0/1 vector, at ~1% of the work.

On the CPU the weight gradient X^T @ grad_out is itself an EmbeddingBag, with the roles swapped: the bag of
word w holds the batch rows that contain w, and the table looked up is grad_out. scipy transposes the batch
in O(nnz), and the lookup runs in the same fast kernel as the forward. EmbeddingBag's own CPU backward sorts
the batch's ~66k word indices first. Measured on real 512-review batches, forward + backward on one thread:
width 16: 4.4 -> 0.7 ms, width 128: 6.5 -> 2.2 ms, width 512: 14.6 -> 11.1 ms; identical gradients
(tests/test_models.py). The GPU keeps EmbeddingBag's own backward.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch
from torch import nn
from torch.nn import functional as F


class _MultiHotMatmul(torch.autograd.Function):
    """X @ W for the multi-hot rows X given as (indices, offsets); backward X^T @ grad_out as an EmbeddingBag."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(indices, offsets)
        ctx.num_words = weight.shape[0]
        return F.embedding_bag(indices, weight, offsets, mode="sum")

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        indices, offsets = ctx.saved_tensors
        nnz = indices.numel()
        x = scipy.sparse.csr_matrix(
            (np.ones(nnz, dtype=np.int8), indices.numpy(), np.append(offsets.numpy(), nnz)),
            shape=(len(offsets), ctx.num_words),
        )
        x_t = x.tocsc()  # column w of X = the batch rows holding word w, in row order (a deterministic sum)
        rows = torch.from_numpy(x_t.indices.astype(np.int64, copy=False))
        starts = torch.from_numpy(x_t.indptr[:-1].astype(np.int64, copy=False))  # empty bags give zero rows
        return F.embedding_bag(rows, grad_out.contiguous(), starts, mode="sum"), None, None


class SparseLinear(nn.Module):
    """`nn.Linear(in_features, out_features)` applied to a multi-hot vector given by its nonzero indices."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.bag = nn.EmbeddingBag(in_features, out_features, mode="sum")
        self.bias = nn.Parameter(torch.empty(out_features))
        # Same init as nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
        bound = in_features**-0.5
        nn.init.uniform_(self.bag.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        weight = self.bag.weight
        if weight.device.type == "cpu" and weight.requires_grad and torch.is_grad_enabled():
            return _MultiHotMatmul.apply(weight, indices, offsets) + self.bias
        return self.bag(indices, offsets) + self.bias
