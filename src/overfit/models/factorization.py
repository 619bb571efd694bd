"""Low-rank matrix factorization A ~ U @ V trained by full-batch gradient descent, as a LightningModule.

    python train.py experiment=factorization                       # Iris, rank 2, SGD lr 0.01, 1000 steps
    python train.py experiment=factorization model.rank=1 model.optimizer.lr=0.005 data.path=my.csv

U (m x r) and V (r x n) start uniform in [0, 1) (torch.rand, so seeded by the run's seed). Every step takes one
gradient step on mse_loss(U @ V, A, reduction="sum"). The best any rank-r factorization can do is known
(Eckart-Young: the sum of the squared singular values of A beyond r), so we log `train/loss` and
`train/gap` = loss - optimum at every step and print both at the end. A loss that turns inf or nan (the learning
rate too large for the matrix's scale) stops the run with NonFiniteLossError: the step and a smaller lr.
"""

import math
from functools import partial

import lightning as L
import torch
import torch.nn.functional as F

from overfit import shown
from overfit.data.matrix import check_rank
from overfit.errors import NonFiniteLossError, OverfitError


class LowRankFactorization(L.LightningModule):
    def __init__(
        self,
        matrix_shape: list[int],
        singular_values: list[float],
        rank: int = 2,
        optimizer: partial | None = None,
        variant: str = "factorization",
    ):
        super().__init__()
        check_rank(rank, matrix_shape)
        # Plain ints, not Hydra's ListConfig: the checkpoint's hparams must load with torch.load(weights_only=True).
        matrix_shape = [int(d) for d in matrix_shape]
        m, n = matrix_shape
        self.save_hyperparameters(ignore=["optimizer", "singular_values"])
        # The step is written out (zero_grad, backward, step) instead of Lightning's automatic closure: the same
        # update, ~20% less Trainer time per step, and it reads like the plain loop it must match.
        self.automatic_optimization = False
        self.optimizer = optimizer
        self.U = torch.nn.Parameter(torch.rand(m, rank))
        self.V = torch.nn.Parameter(torch.rand(rank, n))
        # Eckart-Young. Plain floats, no tensor: the model can then also be built on the meta device (shapes only),
        # as overfit.train does to check a resume checkpoint before loading any data.
        self.optimal_loss = math.fsum(float(x) ** 2 for x in list(singular_values)[rank:])
        self.last = {}  # the metrics of the latest step, for the end-of-fit print
        self._pending = []  # (step, metrics) not yet handed to the loggers

    @staticmethod
    def check_config(cfg) -> None:
        """Called by overfit.train before any data is loaded; the rank's upper bound needs the data (see __init__)."""
        rank = cfg.get("rank")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise OverfitError(f"model.rank={rank}: must be an integer >= 1, e.g. model.rank=2")

    def forward(self) -> torch.Tensor:
        return self.U @ self.V

    def training_step(self, A: torch.Tensor, batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        optimizer.zero_grad()
        loss = F.mse_loss(self(), A, reduction="sum")
        self.manual_backward(loss)
        # The loss of U, V before this update, as in the plain loop. Read before optimizer.step() (the step's only
        # host sync, needed for the per-step log anyway; backward is already queued) so that a non-finite loss stops
        # the run before it writes inf/nan into U and V (a checkpoint saved on the exception keeps finite weights).
        value = loss.item()
        if not math.isfinite(value):
            self._stop_non_finite(value, optimizer)
        optimizer.step()
        self.last = {"train/loss": value, "train/gap": value - self.optimal_loss}
        # Measured on the 2-core box (1000 steps): self.log costs ~1 ms a call (Lightning deep-copies its
        # bookkeeping per value), and handing each scalar to TensorBoard's writer thread as it comes ~1 ms a step
        # under load; either alone outweighs the step. So the steps' scalars are kept here and handed to the loggers
        # 100 steps at a time, and self.log only refreshes the progress bar and trainer.callback_metrics.
        trainer = self.trainer
        step = self.global_step - 1  # optimizer.step() above has counted this step already
        last = trainer.is_last_batch or step + 1 == trainer.max_steps
        if step % trainer.log_every_n_steps == 0 or last:
            self._pending.append((step, self.last))
        if len(self._pending) >= 100 or last:
            self._flush_pending()
        if step % 100 == 0 or last:
            self.log_dict(self.last, on_step=True, on_epoch=False, prog_bar=True, logger=False)
        return loss.detach()

    def _stop_non_finite(self, value: float, optimizer) -> None:
        """Log what led up to it (TensorBoard shows the blow-up), then stop in one line with a smaller lr."""
        step = self.global_step  # the step about to be taken, numbered as in TensorBoard (0 = the first)
        self._pending.append((step, {"train/loss": value, "train/gap": value - self.optimal_loss}))
        self._flush_pending()
        lr = optimizer.param_groups[0]["lr"]
        raise NonFiniteLossError(
            f"train/loss became {value} at step {step} (epoch {self.current_epoch}) with model.optimizer.lr={lr:g}: "
            f"gradient descent diverged; lower the learning rate, e.g. model.optimizer.lr={lr / 10:g}"
        )

    def _flush_pending(self) -> None:
        for logger in self.loggers:
            for step, metrics in self._pending:
                logger.log_metrics(metrics, step=step)
        self._pending = []

    def on_train_end(self) -> None:
        self._flush_pending()  # a run stopped early (Ctrl-C, a callback) keeps its last steps too

    def configure_optimizers(self):
        if self.optimizer is None:  # plain use without Hydra: the protocol of the issue, SGD without momentum
            return torch.optim.SGD(self.parameters(), lr=0.01)
        return self.optimizer(params=self.parameters())

    def on_fit_end(self) -> None:
        if self.last and self.trainer.is_global_zero:
            loss, gap = (float(v) for v in self.last.values())
            shown.show(
                f"rank-{self.hparams.rank} factorization after {self.trainer.global_step} steps: "
                f"loss {loss:.4f}, best possible {self.optimal_loss:.4f} (Eckart-Young), gap {gap:.3g}",
            )
