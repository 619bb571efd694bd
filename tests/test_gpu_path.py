"""The GPU code paths, checked on the CPU where they can be; the `gpu` tests need CUDA and skip without it.

On CPU: the deferred non-finite check (what a GPU run uses instead of a per-step host sync), every tensor a model
creates follows the model's device (run on the meta device: a tensor created on the CPU by mistake fails there),
EmbeddingBag's own backward (the GPU branch of SparseLinear) equals the CPU one, and the batches built on the
device (data.device_batches, the default on a GPU) are those of the CPU DataLoader.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_models import random_multi_hot
from torch.utils.data import DataLoader

from overfit.data.batches import CSRDataset, DeviceBatches, EpochBatchSampler, EpochSampler, identity
from overfit.data.imdb import IMDBDataModule
from overfit.errors import NonFiniteLossError, OverfitError
from overfit.models.factorization import LowRankFactorization
from overfit.models.mlp import BagOfWordsMLP
from overfit.models.sparse_linear import SparseLinear
from overfit.train import train

cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (run python -m benchmarks gpu-check there)"
)


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


def random_csr(rows: int, vocab: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 12, rows)  # some reviews empty: zero-length bags must survive the gather
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = rng.integers(0, vocab, int(indptr[-1])).astype(np.int32)
    return indptr, indices, rng.integers(0, 2, rows).astype(np.float32)


def loader_batches(dataset, sampler, batch_size):
    loader = DataLoader(dataset, batch_sampler=EpochBatchSampler(sampler, batch_size, False), collate_fn=identity)
    return list(loader)


@pytest.mark.parametrize(
    "shuffle,batch_size,rank,world_size", [(True, 16, 0, 1), (False, 48, 0, 1), (True, 8, 1, 2), (False, 25, 2, 3)]
)
def test_device_batches_equal_the_dataloaders(shuffle, batch_size, rank, world_size):
    """DeviceBatches (the GPU path) yields the very batches the CPU DataLoader yields, epoch after epoch."""
    indptr, indices, labels = random_csr(101, 40, seed=3)
    dataset = CSRDataset(indptr, indices, labels)
    on_device = DeviceBatches(dataset, EpochSampler(101, shuffle, 7, rank, world_size), batch_size, "cpu")
    reference = EpochSampler(101, shuffle, 7, rank, world_size)
    for epoch in (0, 1, 5):
        on_device.sampler.set_epoch(epoch)  # what Lightning calls at each epoch's start (found via .sampler)
        reference.set_epoch(epoch)
        got, want = list(on_device), loader_batches(dataset, reference, batch_size)
        assert len(got) == len(want) == len(on_device)
        for a, b in zip(got, want, strict=True):
            assert all(x.dtype == y.dtype and torch.equal(x, y) for x, y in zip(a, b, strict=True))
    if shuffle:
        on_device.sampler.set_epoch(0)
        first = torch.cat([b[2] for b in on_device])
        on_device.sampler.set_epoch(1)
        assert not torch.equal(first, torch.cat([b[2] for b in on_device]))  # a new order each epoch


def test_a_run_with_device_batches_has_the_same_metrics(train_cfg, tmp_path):
    """data.device_batches=true (the default on a GPU) forced on the CPU: the same run, bit for bit."""
    results = {}
    for choice in ("true", "false"):
        cfg = train_cfg(
            "model=dropout", f"data.device_batches={choice}", f"paths.output_dir={tmp_path / choice}", epochs=2
        )
        train(cfg)
        metrics = json.loads((tmp_path / choice / "metrics.json").read_text())["metrics"]
        results[choice] = {k: v for k, v in metrics.items() if not k.startswith("time/")}
    assert results["true"] == results["false"]
    assert {"train/loss", "val/acc", "test/acc"} <= set(results["true"])


def test_device_batches_setting_is_checked(tiny_archive, tmp_path):
    with pytest.raises(OverfitError, match=r"^data.device_batches='yes' is invalid: use true, false or null"):
        IMDBDataModule(archive=str(tiny_archive), data_dir=str(tmp_path), device_batches="yes")


@pytest.mark.gpu
@cuda
def test_device_batches_on_cuda_equal_the_cpus():
    indptr, indices, labels = random_csr(300, 50, seed=4)
    dataset = CSRDataset(indptr, indices, labels)
    on_gpu = DeviceBatches(dataset, EpochSampler(300, True, 1), 64, "cuda")
    for a, b in zip(on_gpu, loader_batches(dataset, EpochSampler(300, True, 1), 64), strict=True):
        assert a[0].is_cuda and all(torch.equal(x.cpu(), y) for x, y in zip(a, b, strict=True))
