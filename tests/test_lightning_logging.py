"""The classifier's metrics go through Lightning's logging, as a Lightning user expects (issue 21, item 2):
trainer.validate()/test() return what was logged, every configured logger gets the epoch curves at x = epoch under
the names the model logs, TensorBoard under the same names, and the model imports no run machinery.
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import lightning as L
import pytest
from hydra.utils import get_class
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import overfit
from overfit.data.imdb import IMDBDataModule
from overfit.models.mlp import BagOfWordsMLP

SRC = Path(overfit.__file__).parent
EPOCHS = 3
# The project's TensorBoard logger, as train.py builds it (Lightning's TensorBoardLogger: conf/logger/tensorboard.yaml)
LOGGER_CONFIG = Path(__file__).resolve().parents[1] / "conf" / "logger" / "tensorboard.yaml"
TensorBoard = get_class(OmegaConf.load(LOGGER_CONFIG).logger.tensorboard._target_)
CURVES = ("train/loss", "train/acc", "val/loss", "val/acc")


@pytest.fixture(scope="module")
def fitted(tiny_archive, tmp_path_factory):
    """A 3-epoch fit with TensorBoard (the project's logger) and a CSVLogger beside it, a checkpoint every epoch."""
    root = tmp_path_factory.mktemp("lightning_logging")
    dm = IMDBDataModule(
        archive=str(tiny_archive), data_dir=str(root / "data"), sha256=None, vocab_size=50, val_size=30, batch_size=16
    )
    dm.prepare_data()
    dm.setup("fit")
    L.seed_everything(0)
    model = BagOfWordsMLP(**dm.model_kwargs, hidden=[8])
    csv_logger = CSVLogger(root, name="csv", version="")
    tensorboard = TensorBoard(root / "tb", name="", version="")
    checkpoints = ModelCheckpoint(root / "ckpt", filename="epoch_{epoch:03d}", save_top_k=-1, monitor=None)
    trainer = L.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        logger=[tensorboard, csv_logger],
        callbacks=[checkpoints],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    (validated,) = trainer.validate(model, datamodule=dm, verbose=False)
    (tested,) = trainer.test(model, datamodule=dm, verbose=False)
    first = sorted((root / "ckpt").glob("epoch_*.ckpt"))[0]  # the weights after epoch 1
    (tested_first,) = trainer.test(model, datamodule=dm, ckpt_path=str(first), verbose=False)
    return {
        "root": root,
        "fit": fit_metrics,
        "validated": validated,
        "tested": tested,
        "tested_first": tested_first,
        "csv": csv_logger,
    }


def csv_rows(fitted) -> dict[str, dict[int, float]]:
    """{metric: {step: value}} from the CSVLogger's metrics.csv."""
    fitted["csv"].experiment.save()
    with open(fitted["csv"].experiment.metrics_file_path) as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[int, float]] = {}
    for row in rows:
        for key, value in row.items():
            if key != "step" and value != "":
                # Lightning 2.5.0 writes the logged step as it came ("1.0"); 2.6 casts it to int ("1")
                step = float(row["step"])
                assert step == int(step), row["step"]
                out.setdefault(key, {})[int(step)] = float(value)
    return out


@pytest.mark.slow  # the module's 3-epoch fit (~3 s)
def test_validate_and_test_return_what_was_logged(fitted):
    validated, tested = fitted["validated"], fitted["tested"]
    assert {"val/loss", "val/acc"} <= validated.keys()  # was {}: val/* only in trainer.callback_metrics
    assert {"test/loss", "test/acc"} <= tested.keys()  # was {} whenever a logger was configured
    # the final weights, as the fit's last validation measured them
    assert validated["val/acc"] == pytest.approx(fitted["fit"]["val/acc"])
    assert validated["val/loss"] == pytest.approx(fitted["fit"]["val/loss"])
    assert 0.0 <= tested["test/acc"] <= 1.0 and tested["test/loss"] > 0


@pytest.mark.slow  # the module's 3-epoch fit (~3 s)
def test_csv_logger_gets_the_epoch_curves_at_step_epoch(fitted):
    rows = csv_rows(fitted)
    for name in CURVES:  # the names the model logs, at x = epoch 1..3, not the optimizer step
        assert sorted(rows[name]) == list(range(1, EPOCHS + 1)), name
    assert rows["val/acc"][EPOCHS] == pytest.approx(fitted["fit"]["val/acc"])
    assert rows["train/loss"][EPOCHS] == pytest.approx(fitted["fit"]["train/loss"])
    # test/* at the epoch whose weights were tested: the last one trained, then the epoch-1 checkpoint's
    assert rows["test/acc"] == {
        EPOCHS: pytest.approx(fitted["tested"]["test/acc"]),
        1: pytest.approx(fitted["tested_first"]["test/acc"]),
    }
    assert "step" not in rows and "epoch" not in rows  # the x-axis, not a metric of its own


@pytest.mark.slow  # the module's 3-epoch fit (~3 s)
def test_tensorboard_gets_the_names_the_model_logs(fitted):
    events = EventAccumulator(str(fitted["root"] / "tb"), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    assert {*CURVES, "test/loss", "test/acc", "train/acc_eval"} <= tags  # one name per metric, as metrics.json
    assert not tags & {"loss/train", "acc/val", "step", "epoch"}
    rows = csv_rows(fitted)
    for name in CURVES:  # the same values at the same steps as every other logger
        assert {e.step: pytest.approx(e.value) for e in events.Scalars(name)} == rows[name]
    assert [e.step for e in events.Scalars("test/acc")] == [EPOCHS, 1]


def test_the_logger_of_older_runs_renames_only_a_splits_epoch_record(tmp_path):
    """Runs from before 2026-12-08 (a resume restores their logger) keep their loss/val, acc/val tags; the
    factorization logs train/loss with train/gap at every step: those keep their tags."""
    from overfit.runs.tensorboard import CurvesTensorBoardLogger

    logger = CurvesTensorBoardLogger(tmp_path, name="", version="")
    logger.log_metrics({"train/loss": 1.0, "train/gap": 0.5}, step=0)
    logger.log_metrics({"val/loss": 2.0, "val/acc": 0.75}, step=1)
    logger.log_metrics({"train/acc_eval": 0.9, "train/loss_eval": 0.3, "val/acc_best": 0.8}, step=1)
    logger.finalize("success")
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0}).Reload()
    assert sorted(events.Tags()["scalars"]) == sorted(
        ["train/loss", "train/gap", "loss/val", "acc/val", "train/acc_eval", "train/loss_eval", "val/acc_best"]
    )
    assert [(e.step, e.value) for e in events.Scalars("acc/val")] == [(1, 0.75)]


def overfit_imports(module: str) -> set[str]:
    """The overfit modules `module`'s source imports (lazy imports in functions included), from its AST."""
    path = SRC.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("overfit."):
            names |= {f"{node.module}.{a.name}" for a in node.names}  # `from overfit.x import module` too
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("overfit.")}
    return {
        n
        for n in names
        if SRC.joinpath(*n.split(".")[1:]).with_suffix(".py").is_file()
        or (SRC.joinpath(*n.split(".")[1:]) / "__init__.py").is_file()
    }


def test_the_model_imports_no_run_machinery():
    """Nothing overfit.models.mlp imports, directly or through other modules, is run machinery."""
    seen, todo = set(), ["overfit.models.mlp"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += overfit_imports(module)
    machinery = {m for m in seen if m.split(".")[1] in {"runs", "checkpoints", "search", "compare"}}
    assert machinery == set(), f"imported by the model: {sorted(machinery)}"
