"""Low-rank factorization: Eckart-Young optimum, convergence, logging, plain-loop reference, CSV, bad input."""

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import Logger

from overfit.data.matrix import MatrixDataModule
from overfit.errors import OverfitError
from overfit.models.factorization import LowRankFactorization

IRIS_RANK2_OPTIMUM = 15.2046  # sum of the squared singular values 3 and 4 of centered Iris


@pytest.fixture(autouse=True)
def one_thread():
    """As train() does for a model this small (cpu_threads=auto -> 1).

    Tiny matmuls on 2 threads of a busy 2-core machine run ~30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Recorder(Logger):
    """Keeps every (step, metrics) Lightning hands to its loggers."""

    def __init__(self):
        super().__init__()
        self.rows = []

    name, version = "recorder", 0

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def recorded_trainer(steps: int, **kwargs) -> tuple[L.Trainer, Recorder]:
    """A quiet Trainer for `steps` full-batch steps that logs every step to a Recorder."""
    recorder = Recorder()
    trainer = L.Trainer(
        max_steps=steps,
        max_epochs=-1,
        log_every_n_steps=1,
        logger=recorder,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )
    return trainer, recorder


def fit(dm, rank=2, steps=1000, lr=0.01, seed=0, precision="32-true"):
    L.seed_everything(seed, verbose=False)
    dm.setup("fit")
    model = LowRankFactorization(rank=rank, optimizer=lambda params: torch.optim.SGD(params, lr=lr), **dm.model_kwargs)
    trainer, recorder = recorded_trainer(steps, precision=precision)
    trainer.fit(model, datamodule=dm)
    losses = [m["train/loss"] for _, m in recorder.rows if "train/loss" in m]
    gaps = [m["train/gap"] for _, m in recorder.rows if "train/gap" in m]
    return model, trainer, losses, gaps


def plain_losses(A, rank, steps, lr, seed):
    """The reference loop: same seed, same init order (U then V), loss recorded before each update."""
    torch.manual_seed(seed)
    U = torch.rand(A.shape[0], rank).to(A.dtype).requires_grad_()
    V = torch.rand(rank, A.shape[1]).to(A.dtype).requires_grad_()
    opt, losses = torch.optim.SGD([U, V], lr=lr), []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(U @ V, A, reduction="sum")
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_iris_matrix_and_svd_optimum():
    dm = MatrixDataModule()
    dm.setup("fit")
    assert dm.matrix.shape == (150, 4) and dm.matrix.dtype == torch.float32
    assert dm.matrix.mean(0).abs().max() < 1e-5  # centered
    model = LowRankFactorization(rank=2, **dm.model_kwargs)
    assert model.optimal_loss == pytest.approx(IRIS_RANK2_OPTIMUM, abs=1e-3)
    # Eckart-Young, checked the long way: the truncated SVD's reconstruction error is that sum.
    a = dm.matrix.double().numpy()
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    assert ((a - (u[:, :2] * s[:2]) @ vt[:2]) ** 2).sum() == pytest.approx(model.optimal_loss, rel=1e-9)


def test_converges_to_the_optimum_and_logs_the_gap_every_step():
    model, trainer, losses, gaps = fit(MatrixDataModule(), steps=1000)
    assert len(losses) == len(gaps) == 1000  # every step
    for loss, gap in zip(losses, gaps):
        assert gap == pytest.approx(loss - model.optimal_loss, abs=1e-5)  # float32 loss
    assert losses[0] > 40  # far from it at the start (uniform init)...
    assert 0 <= losses[-1] - model.optimal_loss < 1e-3  # ...and within 1e-3 after 1000 steps
    assert min(gaps) > -1e-4  # never (beyond float32 rounding) better than the best possible
    assert float(trainer.callback_metrics["train/gap"]) == pytest.approx(gaps[-1])


@pytest.mark.parametrize("precision,tol", [("32-true", 1e-5), ("64-true", 1e-9)])
def test_module_equals_plain_loop_step_for_step(precision, tol):
    dm = MatrixDataModule()
    _, _, losses, _ = fit(dm, steps=200, lr=0.01, seed=3, precision=precision)
    A = dm.matrix.double() if precision == "64-true" else dm.matrix
    reference = plain_losses(A, rank=2, steps=200, lr=0.01, seed=3)
    assert np.abs(np.array(losses) - np.array(reference)).max() <= tol


def write(tmp_path, text, name="m.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_with_header_and_rank_override(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 5))
    path = write(tmp_path, "a,b,c,d,e\n" + "\n".join(",".join(f"{x:.17g}" for x in row) for row in a) + "\n")
    dm = MatrixDataModule(path=path, steps_per_epoch=50)
    model, _, losses, _ = fit(dm, rank=3, steps=300, lr=0.01)
    centered = a - a.mean(0)
    assert np.allclose(dm.matrix.numpy(), centered, atol=1e-6)
    s = np.linalg.svd(dm.matrix.double().numpy(), compute_uv=False)
    assert model.U.shape == (12, 3) and model.V.shape == (3, 5)
    assert model.optimal_loss == pytest.approx((s[3:] ** 2).sum(), rel=1e-9)
    assert losses[-1] < losses[0]  # training runs across epochs of 50 steps (300 steps = 6 epochs)

    raw = MatrixDataModule(path=path, center=False)
    raw.setup("fit")
    assert np.allclose(raw.matrix.numpy(), a, atol=1e-6)


def one_line_error(make, *words):
    with pytest.raises(OverfitError) as err:
        make()
    message = str(err.value)
    assert "\n" not in message and ":" in message  # culprit: fix
    for word in words:
        assert word in message
    return message


@pytest.mark.parametrize("rank", [0, -1, 4, 5])
def test_bad_rank(rank):
    dm = MatrixDataModule()
    dm.setup("fit")
    one_line_error(lambda: LowRankFactorization(rank=rank, **dm.model_kwargs), f"model.rank={rank}", "150x4", "<= 3")


# Bad CSV content (encodings, non-finite and absurd values, ragged rows, ...): tests/test_faults_factorization.py


def test_missing_csv(tmp_path):
    one_line_error(lambda: MatrixDataModule(path=str(tmp_path / "nope.csv")).setup("fit"), "does not exist")


def test_no_val_or_test_set():
    dm = MatrixDataModule()
    assert type(dm).test_dataloader is L.LightningDataModule.test_dataloader
    assert type(dm).val_dataloader is L.LightningDataModule.val_dataloader
