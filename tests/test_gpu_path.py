"""The GPU code paths, checked on the CPU where they can be; the `gpu` tests need CUDA and skip without it.

On CPU: the deferred non-finite check (what a GPU run uses instead of a per-step host sync), every tensor a model
creates follows the model's device (run on the meta device: a tensor created on the CPU by mistake fails there),
and EmbeddingBag's own backward (the GPU branch of SparseLinear) equals the CPU one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_models import random_multi_hot

from overfit.errors import NonFiniteLossError
from overfit.models.factorization import LowRankFactorization
from overfit.models.mlp import BagOfWordsMLP
from overfit.models.sparse_linear import SparseLinear
from overfit.train import train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run scripts/gpu_check.py there)")


def test_deferred_non_finite_check_names_the_first_bad_step(train_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(BagOfWordsMLP, "defer_nonfinite_check", property(lambda self: True))
    cfg = train_cfg("+callbacks.poison._target_=test_train.PoisonWeights", epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 1, step \d+.*model.optimizer.lr"):
        train(cfg)
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0  # raised at the end of the bad epoch, before its checkpoint
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())


@pytest.mark.parametrize("hidden,dropout", [([16, 16], 0.0), ([4, 4], 0.5)])
def test_mlp_steps_create_nothing_off_the_models_device(hidden, dropout):
    with torch.device("meta"):
        model = BagOfWordsMLP(vocab_size=50, hidden=hidden, dropout=dropout)
        batch = (torch.zeros(30, dtype=torch.long), torch.arange(0, 30, 10), torch.ones(3))
    for stage in ("train", "val"):
        loss = model._shared_step(batch, stage)
        assert loss.device.type == "meta"
    assert model.predict_step(batch).device.type == "meta"


def test_factorization_creates_nothing_off_the_models_device():
    with torch.device("meta"):
        model = LowRankFactorization(matrix_shape=[6, 4], singular_values=[3.0, 2.0, 1.0, 0.5], rank=2)
    assert model().device.type == "meta" and model.U.device.type == "meta"


def test_embedding_bags_own_backward_equals_the_cpu_branch():
    # The GPU branch of SparseLinear is `self.bag(...)` (EmbeddingBag's autograd); the CPU branch its own backward.
    g = torch.Generator().manual_seed(5)
    indices, offsets, _ = random_multi_hot(32, 300, g)
    cpu_branch, gpu_branch = SparseLinear(300, 24), SparseLinear(300, 24)
    gpu_branch.load_state_dict(cpu_branch.state_dict())
    upstream = torch.randn(32, 24, generator=g)
    (cpu_branch(indices, offsets) * upstream).sum().backward()
    (gpu_branch.bag(indices, offsets) + gpu_branch.bias).mul(upstream).sum().backward()
    torch.testing.assert_close(cpu_branch.bag.weight.grad, gpu_branch.bag.weight.grad, atol=1e-5, rtol=0)
    torch.testing.assert_close(cpu_branch.bias.grad, gpu_branch.bias.grad)


@pytest.mark.gpu
@cuda
def test_a_gpu_run_matches_the_cpu_within_seed_noise(train_cfg, tmp_path):
    results = {}
    for accelerator in ("gpu", "cpu"):
        cfg = train_cfg(
            "model=dropout",
            f"trainer.accelerator={accelerator}",
            f"paths.output_dir={tmp_path / accelerator}",
            epochs=2,
        )
        train(cfg)
        results[accelerator] = json.loads((tmp_path / accelerator / "metrics.json").read_text())["metrics"]
    assert abs(results["gpu"]["val/acc"] - results["cpu"]["val/acc"]) <= 0.1


@pytest.mark.gpu
@cuda
def test_sparse_linear_on_cuda_equals_cpu():
    g = torch.Generator().manual_seed(7)
    indices, offsets, _ = random_multi_hot(64, 500, g)
    layer = SparseLinear(500, 32)
    on_gpu = SparseLinear(500, 32).cuda()
    on_gpu.load_state_dict(layer.state_dict())
    upstream = torch.randn(64, 32, generator=g)
    (layer(indices, offsets) * upstream).sum().backward()
    (on_gpu(indices.cuda(), offsets.cuda()) * upstream.cuda()).sum().backward()
    torch.testing.assert_close(on_gpu.bag.weight.grad.cpu(), layer.bag.weight.grad, atol=1e-5, rtol=1e-5)
