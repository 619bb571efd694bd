"""The IMDB bag-of-words MLP: one LightningModule for all six regularization variants.

    vocab (multi-hot, sparse) -> EmbeddingBag(sum) + bias -> [ReLU -> Dropout -> Linear]* -> logit

The first layer (`SparseLinear`: `nn.EmbeddingBag(mode="sum")` plus a bias) computes exactly what
`nn.Linear(vocab_size, hidden)` computes on the multi-hot vector, but touches only the
~130 words a review has instead of all 10,000 columns (tests/test_models.py checks the equality).

Metrics go through Lightning's logging only, once an epoch: train/loss, train/acc, val/loss, val/acc, test/loss,
test/acc, and for val and test also auroc, ece and brier (models/calibration.py: how far to trust P(positive)) reach
callbacks (trainer.callback_metrics), trainer.validate()/test()'s results and every logger, at
x = epoch, under these names everywhere (TensorBoard: conf/logger/tensorboard.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn

from overfit.errors import NonFiniteLossError
from overfit.models.calibration import EvalMetrics
from overfit.models.network import check_hparams, layers

STAGES = ("train", "val", "test")
TRAIN_EVAL = ("train/acc_eval", "train/loss_eval")  # the final weights on the train split, in eval mode


class BagOfWordsMLP(L.LightningModule):
    """Binary sentiment classifier on a sparse multi-hot bag of words.

    Args:
        vocab_size: input width (the datamodule's vocabulary size).
        hidden: widths of the hidden layers, e.g. [16, 16].
        dropout: probability of Dropout after each hidden ReLU (0 disables it).
        optimizer: a partial `torch.optim.Optimizer` (Hydra `_partial_: true`) awaiting the params.
        variant: the variant's name, for logs and checkpoints.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden: Sequence[int] = (16, 16),
        dropout: float = 0.0,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        variant: str = "custom",
    ):
        super().__init__()
        hidden = [int(h) for h in hidden]  # a plain list in hparams (save_hyperparameters reads these locals)
        check_hparams(vocab_size, hidden, dropout)
        # Plain values only (no optimizer object), so a checkpoint loads with weights_only=True.
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.optimizer_factory = optimizer or torch.optim.RMSprop
        # The network, as network.py builds it for predict.py (the same names in the state_dict, the same draws)
        self.input, self.head = layers(vocab_size, hidden, dropout)
        self.loss_fn = nn.BCEWithLogitsLoss()
        # Per-stage running sums, updated every step on the model's device and logged once per epoch: one
        # self.log per step costs about as much as the whole forward/backward of the baseline model.
        # ("train_totals", not "train": nn.Module.train is a method)
        self.epoch_totals = nn.ModuleDict({f"{s}_totals": EpochTotals() for s in (*STAGES, "train_eval")})
        # Validation and test (a few large batches an epoch) also get torchmetrics' AUROC, ECE and Brier score
        # (models/calibration.py); their states are not saved in checkpoints (torchmetrics' default).
        self.eval_metrics = nn.ModuleDict({s: EvalMetrics() for s in ("val", "test")})
        self.best_val_acc, self.best_val_epoch = 0.0, -1
        self.restored_epoch: int | None = None  # 1-based epoch of the checkpoint last loaded (on_load_checkpoint)
        self._first_bad: torch.Tensor | None = None  # deferred non-finite loss check (GPU), see training_step

    @staticmethod
    def check_config(cfg) -> None:
        """Called by train() on the model config before any data is loaded."""
        check_hparams(1, [int(h) for h in cfg.get("hidden", [16])], float(cfg.get("dropout", 0.0)))

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,). Apply a sigmoid for P(positive)."""
        return self.head(self.input(indices, offsets)).squeeze(-1)

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        indices, offsets, labels = batch
        logits = self(indices, offsets)
        loss = self.loss_fn(logits, labels)
        self.epoch_totals[f"{stage}_totals"].update(loss, logits, labels)
        if stage in self.eval_metrics:
            self.eval_metrics[stage].update(logits, labels)
        return loss

    def _log_epoch(self, stage: str) -> float:
        """Log the epoch's mean loss and accuracy (summed over DDP ranks) and reset: one record an epoch.

        `step` is the record's x for every logger: Lightning's LoggerConnector.log_metrics takes a logged `step` as
        the step (and leaves it out of what loggers get) instead of the optimizer step. It also lands in
        callback_metrics (a ModelCheckpoint filename's {step} would read the epoch; train() leaves it out of
        metrics.json). `epoch` (1-based, not for loggers) names the checkpoints: epoch_001.ckpt = after epoch 1.
        """
        values = self.epoch_totals[f"{stage}_totals"].compute(self.trainer.strategy)
        if stage in self.eval_metrics:  # auroc, ece, brier (gathered over DDP ranks by torchmetrics)
            values.update(self.eval_metrics[stage].compute())
            self.eval_metrics[stage].reset()
        # logger left at None: True, without Lightning's warning when the Trainer has no logger (eval.py)
        for kind, v in values.items():  # the bar: loss and accuracy only
            self.log(f"{stage}/{kind}", v, prog_bar=stage != "test" and kind in ("loss", "acc"))
        if not self.trainer.sanity_checking:  # Lightning logs nothing of the sanity check
            epoch = float(self.weights_epoch())
            self.log("step", epoch)
            if stage != "test":
                self.log("epoch", epoch, logger=False)
        self.epoch_totals[f"{stage}_totals"].reset()
        return float(values["acc"])

    def weights_epoch(self) -> int:
        """The epoch (1-based) whose weights are measured: while fitting, the one ending; in validate() and test(),
        the restored checkpoint's (ckpt_path=...), else the last one trained."""
        trainer = self.trainer
        if trainer.state.fn == TrainerFn.FITTING:
            return trainer.current_epoch + 1
        if trainer.ckpt_path and self.restored_epoch is not None:
            return self.restored_epoch
        return trainer.current_epoch

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        # On the CPU, and on a GPU with data.device_batches, the batch is already where it goes: skip Lightning's
        # walk over it (~0.1 ms a step).
        if device.type == "cpu" or all(isinstance(t, torch.Tensor) and t.device == device for t in batch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Dropout masks come from torch's global RNG, which Lightning and the DataLoader also draw
        # from at moments that differ between a fresh and a resumed run. Reseeding from
        # (seed, global step) makes every step's masks independent of that history, so a run
        # resumed from last.ckpt continues exactly like one that was never interrupted.
        # (default_generator, not torch.manual_seed: that one also visits every other backend, ~2 ms.)
        # + rank: under DDP each rank draws its own masks (rank 0 keeps the single-device masks).
        seed = (
            int(os.environ.get("PL_GLOBAL_SEED", 0)) * 1_000_003
            + self.global_step  # PL_: L.seed_everything
            + self.global_rank * (1 << 40)
        )
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(seed)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._shared_step(batch, "train")
        if not self.defer_nonfinite_check:
            if not torch.isfinite(loss):
                self._non_finite(float(loss.detach()), self.global_step)
            return loss
        # On a GPU `if not torch.isfinite(loss)` would stall every step waiting for the device. Instead the first
        # bad step and its loss are kept on the device and read once, at the epoch's end (before its checkpoint).
        if self._first_bad is None or self._first_bad.device != loss.device:
            self._first_bad = torch.full((2,), -1.0, dtype=torch.float64, device=loss.device)  # (step, loss)
        new = (~torch.isfinite(loss)) & (self._first_bad[0] < 0)
        step_and_loss = torch.stack([loss.new_full((), self.global_step, dtype=torch.float64), loss.detach().double()])
        self._first_bad = torch.where(new, step_and_loss, self._first_bad)
        return loss

    @property
    def defer_nonfinite_check(self) -> bool:
        return self.device.type != "cpu"

    def _non_finite(self, loss: float, step: int) -> None:
        raise NonFiniteLossError(
            f"loss became {loss} at epoch {self.current_epoch}, step {step}: "
            f"lower model.optimizer.lr (now {self.optimizers().param_groups[0]['lr']:g}); "
            "the last good checkpoint is kept in the run's checkpoints/ dir"
        )

    def on_train_epoch_end(self) -> None:
        if self._first_bad is not None:
            step, loss = self._first_bad.tolist()  # the epoch's one host sync for this check
            self._first_bad = None
            if step >= 0:
                self._non_finite(loss, int(step))
        self._log_epoch("train")

    def on_train_end(self) -> None:
        """train/acc_eval, train/loss_eval: the final weights on the whole train split, measured as validation is.

        The running train/acc is a mean over the epoch's batches with dropout on and the weights still moving, so
        train/acc - val/acc compared unlike things (dropout's "gap" came out at -21 pp at width 2). One forward
        pass in eval mode, in validation's large batches: 15 ms, 0.5% of a 20-epoch `baseline` fit (studies.md).
        Into trainer.callback_metrics, which train() copies into metrics.json, and to every logger at the last epoch.
        self.log is not allowed in this hook, so this one record goes through Logger.log_metrics, Lightning's public
        logger API.
        """
        loader = getattr(getattr(self.trainer, "datamodule", None), "train_eval_dataloader", None)
        if loader is None:  # a datamodule without one (not IMDB's): no such metric, compare.py says so
            return
        was_training, totals = self.training, self.epoch_totals["train_eval_totals"]
        self.eval()
        with torch.inference_mode():
            for batch in loader():
                self._shared_step(self.transfer_batch_to_device(batch, self.device, 0), "train_eval")
        self.train(was_training)
        values = totals.compute(self.trainer.strategy)  # summed over DDP ranks, as val/acc is
        totals.reset()
        metrics = dict(zip(TRAIN_EVAL, (float(values["acc"]), float(values["loss"]))))
        self.trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        for logger in self.trainer.loggers:  # at the last epoch trained (current_epoch counts those done)
            logger.log_metrics(metrics, step=self.trainer.current_epoch)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        acc = self._log_epoch("val")
        if self.trainer.sanity_checking:
            return
        if acc > self.best_val_acc:
            self.best_val_acc, self.best_val_epoch = acc, self.current_epoch
        # Not a curve: TensorBoard gets it once, at the last epoch (overfit.runs.tensorboard.log_hparams)
        self.log("val/acc_best", self.best_val_acc, logger=False)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch, batch_idx: int = 0) -> torch.Tensor:
        indices, offsets = batch[0], batch[1]
        return torch.sigmoid(self(indices, offsets))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(params=self.parameters())

    # The best val accuracy so far survives a resume; the checkpoint's epoch labels what test() measures.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_val"] = {"acc": self.best_val_acc, "epoch": self.best_val_epoch}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        best = checkpoint.get("best_val", {})
        self.best_val_acc, self.best_val_epoch = float(best.get("acc", 0.0)), int(best.get("epoch", -1))
        self.restored_epoch = int(checkpoint["epoch"]) + 1 if "epoch" in checkpoint else None


class EpochTotals(nn.Module):
    """Sums over an epoch's batches (loss x rows, correct, rows), kept on the model's device.

    A plain tensor add per step, no host-device sync (torchmetrics' MeanMetric + BinaryAccuracy were ~95 us a step
    on the CPU, a fifth of a `baseline` step). Accuracy counts hard predictions, logit > 0 (P(pos) > 0.5), never
    thresholded raw logits. Under DDP compute() sums the ranks' totals, so every rank logs the metric of the whole
    split. float32: exact counts up to 2^24 rows, and it exists on every accelerator (MPS has no float64).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("totals", torch.zeros(3), persistent=False)

    def update(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        # rows as a fill on the device, not a copy of a host int: no stall. Five small ops (~25 us on the CPU).
        rows = torch.full((), labels.numel(), dtype=self.totals.dtype, device=self.totals.device)
        correct = (logits.detach() > 0).eq(labels > 0.5).sum()
        self.totals += torch.stack([loss.detach() * rows, correct, rows])

    def compute(self, strategy=None) -> dict[str, torch.Tensor]:
        totals = self.totals if strategy is None else strategy.reduce(self.totals.clone(), reduce_op="sum")
        rows = totals[2].clamp(min=1)  # an empty epoch logs 0, not NaN
        return {"loss": totals[0] / rows, "acc": totals[1] / rows}

    def reset(self) -> None:
        self.totals.zero_()
