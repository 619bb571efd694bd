"""The sparse first layer computes what nn.Linear computes on the dense multi-hot vector."""

import pytest
import torch
from torch import nn

from overfit.errors import OverfitError
from overfit.models.mlp import BagOfWordsMLP
from overfit.models.sparse_linear import SparseLinear


def random_multi_hot(batch: int, vocab: int, generator: torch.Generator):
    """Random sparse rows (some empty) as (indices, offsets) and as a dense 0/1 matrix."""
    dense = (torch.rand(batch, vocab, generator=generator) < 0.05).float()
    dense[3] = 0.0  # an empty review must work too (EmbeddingBag gives zeros, plus the bias)
    rows, cols = dense.nonzero(as_tuple=True)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(rows, minlength=batch).cumsum(0)[:-1]])
    return cols, offsets, dense


def test_sparse_linear_equals_linear_outputs_and_gradients():
    g = torch.Generator().manual_seed(0)
    vocab, width, batch = 300, 7, 32
    sparse = SparseLinear(vocab, width)
    dense = nn.Linear(vocab, width)
    with torch.no_grad():  # same weights: EmbeddingBag stores (vocab, width), Linear (width, vocab)
        dense.weight.copy_(sparse.bag.weight.T)
        dense.bias.copy_(sparse.bias)
    indices, offsets, x = random_multi_hot(batch, vocab, g)
    upstream = torch.randn(batch, width, generator=g)  # a non-trivial gradient from above

    out_sparse, out_dense = sparse(indices, offsets), dense(x)
    torch.testing.assert_close(out_sparse, out_dense, atol=1e-5, rtol=0)
    (out_sparse * upstream).sum().backward()
    (out_dense * upstream).sum().backward()
    torch.testing.assert_close(sparse.bag.weight.grad, dense.weight.grad.T, atol=1e-5, rtol=0)
    torch.testing.assert_close(sparse.bias.grad, dense.bias.grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_backward_equals_embedding_bags_own(dtype):
    """SparseLinear's CPU backward (X^T @ grad as a transposed EmbeddingBag) against EmbeddingBag's autograd.

    Empty rows included.
    """
    g = torch.Generator().manual_seed(2)
    indices, offsets, _ = random_multi_hot(64, 500, g)
    # 600 words, only the first 500 used: the gradient rows of unused words (trailing empty bags) must be 0.
    layer = SparseLinear(600, 33).to(dtype)
    reference = nn.EmbeddingBag(600, 33, mode="sum").to(dtype)
    reference.weight.data.copy_(layer.bag.weight.data)
    upstream = torch.randn(64, 33, generator=g, dtype=dtype)
    out = layer(indices, offsets)
    assert "_MultiHotMatmul" in str(out.grad_fn.next_functions)  # the custom backward is the one tested
    (out * upstream).sum().backward()
    (reference(indices, offsets) * upstream).sum().backward()
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(layer.bag.weight.grad, reference.weight.grad, atol=tolerance, rtol=0)
    assert layer.bag.weight.grad.dtype == dtype
    assert not layer.bag.weight.grad[500:].any() and layer.bag.weight.grad[:500].abs().sum() > 0


def test_sparse_linear_initialized_like_linear():
    layer = SparseLinear(10_000, 16)
    bound = 10_000**-0.5
    assert layer.bag.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert layer.bag.weight.std() > bound / 3  # uniform, not zeros


@pytest.mark.parametrize("hidden,dropout,expected_linear", [([16, 16], 0.0, 2), ([4], 0.5, 1), ([512, 512], 0.5, 2)])
def test_mlp_shape_and_layers(hidden, dropout, expected_linear):
    model = BagOfWordsMLP(vocab_size=100, hidden=hidden, dropout=dropout)
    indices, offsets, _ = random_multi_hot(8, 100, torch.Generator().manual_seed(1))
    assert model(indices, offsets).shape == (8,)
    assert sum(isinstance(m, nn.Linear) for m in model.head) == expected_linear
    dropouts = [m.p for m in model.head if isinstance(m, nn.Dropout)]
    assert dropouts == [dropout] * len(hidden)


@pytest.mark.parametrize(
    "kwargs,culprit",
    [
        ({"hidden": [16, 0]}, "model.hidden"),
        ({"hidden": []}, "model.hidden"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"dropout": -0.1}, "model.dropout"),
        ({"vocab_size": 0}, "vocab_size"),
    ],
)
def test_mlp_rejects_bad_hparams(kwargs, culprit):
    with pytest.raises(OverfitError, match=culprit):
        BagOfWordsMLP(**{"vocab_size": 100, **kwargs})


def test_hparams_are_plain_values():
    model = BagOfWordsMLP(vocab_size=100, hidden=(8, 8), optimizer=torch.optim.Adam)
    assert dict(model.hparams) == {"vocab_size": 100, "hidden": [8, 8], "dropout": 0.0, "variant": "custom"}
    assert isinstance(model.configure_optimizers(), torch.optim.Adam)
