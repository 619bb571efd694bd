"""The generalization gap compares like with like: train accuracy of the final weights measured as validation's is
(eval mode, dropout off, the whole split), logged by every run as train/acc_eval and train/loss_eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from overfit.models.mlp import BagOfWordsMLP
from overfit.train import train


def _eval_on_train(cfg, ckpt: Path) -> tuple[float, float]:
    """(acc, mean loss) of the checkpoint's weights on the run's train split, in eval mode, computed here apart."""
    data = instantiate(cfg.data)
    data.prepare_data()
    data.setup("fit")
    model = BagOfWordsMLP.load_from_checkpoint(ckpt, weights_only=True, **data.model_kwargs).eval()
    train_set = data.datasets["train"]
    indices, offsets, labels = train_set.__getitems__(list(range(len(train_set))))  # the whole split, one batch
    with torch.no_grad():
        logits = model(indices, offsets)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    return float(((logits > 0) == (labels > 0.5)).float().mean()), float(loss)


def test_train_acc_eval_is_the_final_weights_in_eval_mode(train_cfg):
    # dropout 0.9: the running train acc (dropout on) is far from the eval-mode one, so a mix-up shows
    cfg = train_cfg("model=dropout", "model.dropout=0.9", "model.optimizer.lr=0.01", epochs=3)
    train(cfg)
    out = Path(cfg.paths.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    acc, loss = _eval_on_train(cfg, out / "checkpoints" / "last.ckpt")
    assert metrics["train/acc_eval"] == pytest.approx(acc, abs=1e-6)
    assert metrics["train/loss_eval"] == pytest.approx(loss, abs=1e-5)
    assert metrics["train/acc_eval"] != pytest.approx(metrics["train/acc"], abs=1e-3)  # not the running one

    events = EventAccumulator(str(out))
    events.Reload()
    logged = events.Scalars("train/acc_eval")
    assert [(e.step, e.value) for e in logged] == [(3, pytest.approx(acc, abs=1e-6))]  # at the last epoch
    assert [e.step for e in events.Scalars("val/acc")][-1] == 3


def test_train_acc_eval_after_early_stopping_is_at_the_epoch_it_stopped(train_cfg):
    cfg = train_cfg("model=early_stopping", "callbacks.early_stopping.patience=1", "model.optimizer.lr=0.05", epochs=30)
    train(cfg)
    out = Path(cfg.paths.output_dir)
    record = json.loads((out / "metrics.json").read_text())
    assert record["early_stopped"] and record["epochs_run"] < 30
    events = EventAccumulator(str(out))
    events.Reload()
    assert [e.step for e in events.Scalars("train/acc_eval")] == [record["epochs_run"]]
    assert [e.step for e in events.Scalars("val/acc")][-1] == record["epochs_run"]
