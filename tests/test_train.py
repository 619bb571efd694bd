"""The training entry point on a tiny generated archive: every variant, determinism, resume,
non-finite loss, bad settings, and eval/predict from the checkpoint it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import forked
import lightning as L
import pytest
import torch
from conftest import REPO, compose_train, make_imdb_archive
from hydra.errors import ConfigCompositionException, OverrideParseException

from overfit.cli import explain_config_error
from overfit.errors import NonFiniteLossError, OverfitError
from overfit.eval import evaluate
from overfit.predict import predict
from overfit.train import train

HYDRA_ERRORS = (ConfigCompositionException, OverrideParseException)
VARIANTS = ["baseline", "small", "big", "l2", "dropout", "early_stopping"]
EXPECTED = {  # variant: (hidden, dropout, optimizer, weight_decay, early stopping)
    "baseline": ([16, 16], 0.0, "torch.optim.RMSprop", 0.0, False),
    "small": ([4, 4], 0.0, "torch.optim.RMSprop", 0.0, False),
    "big": ([512, 512], 0.0, "torch.optim.Adam", 0.0, False),
    "l2": ([16, 16], 0.0, "torch.optim.RMSprop", 1e-3, False),
    "dropout": ([16, 16], 0.5, "torch.optim.RMSprop", 0.0, False),
    "early_stopping": ([16, 16], 0.5, "torch.optim.RMSprop", 0.0, True),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_config_composes_as_documented(train_cfg, variant):
    cfg = train_cfg(f"model={variant}")
    hidden, dropout, optimizer, weight_decay, early = EXPECTED[variant]
    assert cfg.model.variant == variant
    assert list(cfg.model.hidden) == hidden and cfg.model.dropout == dropout
    assert cfg.model.optimizer._target_ == optimizer and cfg.model.optimizer._partial_
    assert cfg.model.optimizer.weight_decay == weight_decay and cfg.model.optimizer.lr > 0
    assert ("early_stopping" in cfg.callbacks) == early
    if early:
        assert cfg.callbacks.early_stopping.patience == 2 and cfg.callbacks.early_stopping.monitor == "val/loss"
        assert cfg.callbacks.best_checkpoint.monitor == "val/loss"  # so test restores the best weights
        assert cfg.callbacks.model_checkpoint.monitor is None  # and the latest epoch is kept for resuming
    assert cfg.trainer.max_epochs == 1 and cfg.data.batch_size == 16  # shrunk by the fixture


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_fits_and_tests(train_cfg, variant, tmp_path):
    cfg = train_cfg(f"model={variant}", epochs=2)
    best_val = train(cfg)
    run = Path(cfg.paths.output_dir)
    record = json.loads((run / "metrics.json").read_text())
    assert record["variant"] == variant and record["epochs_run"] == 2
    assert 0.0 <= record["metrics"]["test/acc"] <= 1.0 and record["metrics"]["test/loss"] > 0
    assert best_val == pytest.approx(record["best_val_acc"]) == pytest.approx(record["metrics"]["val/acc_best"])
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    if variant == "early_stopping":  # the best checkpoint by val loss was tested, not the final weights
        assert record["tested_checkpoint"] and Path(record["tested_checkpoint"]).name.startswith("best_epoch_")
    else:
        assert record["tested_checkpoint"] is None


def test_same_seed_same_metrics_other_seed_differs(train_cfg, tmp_path):
    def metrics(seed, out):
        cfg = train_cfg("model=dropout", f"seed={seed}", f"paths.output_dir={tmp_path / out}", epochs=2)
        train(cfg)
        return json.loads((tmp_path / out / "metrics.json").read_text())["metrics"]

    first, again, other = metrics(0, "a"), metrics(0, "b"), metrics(1, "c")
    for key in ("train/loss", "val/loss", "test/loss", "test/acc"):
        assert first[key] == again[key], key
    assert first["train/loss"] != other["train/loss"]


def test_eval_batch_size_changes_no_metric(train_cfg, tmp_path):
    """Validation and test run in large batches (data.eval_batch_size); their metrics are sums over rows."""

    def metrics(eval_batch_size, out):
        cfg = train_cfg(f"data.eval_batch_size={eval_batch_size}", f"paths.output_dir={tmp_path / out}", epochs=2)
        train(cfg)
        return json.loads((tmp_path / out / "metrics.json").read_text())["metrics"]

    one_batch, small_batches = metrics(10_000, "one"), metrics(7, "many")  # 40 val rows: 1 batch, or 6
    for key in ("train/loss", "val/loss", "val/acc", "test/loss", "test/acc"):
        assert one_batch[key] == pytest.approx(small_batches[key], rel=1e-6, abs=1e-7), key


class CrashAtEpoch(L.Callback):
    """Simulates a crash (power cut, preemption) at the start of an epoch, while `armed`.

    The callback is part of the run's config, which its checkpoints record and a resume restores (a resume may
    not drop it: tests/test_resume_same_run.py); the crash itself is an outside event, so it is disarmed apart."""

    armed = True

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if CrashAtEpoch.armed and trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_resume_after_crash_matches_uninterrupted_run(train_cfg, tmp_path, monkeypatch):
    straight = train_cfg("model=dropout", f"paths.output_dir={tmp_path / 'straight'}", epochs=4)
    train(straight)

    crashed = train_cfg(
        "model=dropout",
        f"paths.output_dir={tmp_path / 'crashed'}",
        "+callbacks.crash._target_=test_train.CrashAtEpoch",
        "+callbacks.crash.epoch=2",
        epochs=4,
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(crashed)
    last = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # epochs 0 and 1 done

    resumed = train_cfg(
        "model=dropout",
        f"paths.output_dir={tmp_path / 'resumed'}",
        f"ckpt_path={last}",
        "+callbacks.crash._target_=test_train.CrashAtEpoch",
        "+callbacks.crash.epoch=2",
        epochs=4,
    )
    monkeypatch.setattr(CrashAtEpoch, "armed", False)
    train(resumed)
    a = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    b = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc"):
        assert a["metrics"][key] == pytest.approx(b["metrics"][key], abs=1e-6), key
    assert (a["best_val_acc"], a["best_val_epoch"]) == (b["best_val_acc"], b["best_val_epoch"])


class PoisonWeights(L.Callback):
    """Puts a NaN into the first layer at the start of epoch 1."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            with torch.no_grad():
                pl_module.input.bias[0] = float("nan")


def test_non_finite_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(train_cfg, tmp_path):
    cfg = train_cfg("+callbacks.poison._target_=test_train.PoisonWeights", epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, step \d+.*model.optimizer.lr"):
        train(cfg)
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())


@pytest.mark.parametrize(
    "override,culprit",
    [
        ("model.optimizer.lr=0", "model.optimizer.lr"),
        ("model.optimizer.lr=-1e-3", "model.optimizer.lr"),
        ("model.dropout=1.0", "model.dropout"),
        ("model.dropout=-0.5", "model.dropout"),
        ("model.hidden=[16,0]", "model.hidden"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("data.batch_size=0", "data.batch_size"),
        ("ckpt_path=/nonexistent/last.ckpt", "ckpt_path"),
        ("cpu_threads=0", "cpu_threads"),
        ("cpu_threads=many", "cpu_threads"),
    ],
)
def test_bad_settings_fail_before_any_data_work(train_cfg, override, culprit):
    cfg = train_cfg(override)
    with pytest.raises(OverfitError, match=culprit) as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert not Path(cfg.paths.data_dir).exists()  # nothing read, nothing cached, nothing written
    assert not Path(cfg.paths.output_dir).exists()


def run_cli(*args: str, cwd: Path = REPO, env: dict | None = None, fresh: bool = False) -> subprocess.CompletedProcess:
    """`python <args>`: a child forked from a process that imported torch and co. once (tests/forked.py), or with
    fresh=True a new interpreter, which also shows anything printed while importing (~7 s more)."""
    environ = {**os.environ, **(env or {})}
    if fresh:
        return subprocess.run(
            [sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
        )
    return forked.run([sys.executable, *args], cwd=cwd, env=environ, timeout=300)


@pytest.mark.slow
def test_cli_prints_one_line_errors(tmp_path):
    result = run_cli("train.py", "model.optimizer.lr=0", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "model.optimizer.lr=0" in errors[0] and "Traceback" not in result.stderr

    unknown = run_cli("train.py", "model=huge", f"paths.log_dir={tmp_path}", fresh=True)  # nothing at import either
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr  # one line, as above
    assert (
        unknown.stderr.startswith("error: model=huge: there is no conf/model/huge.yaml")
        and "early_stopping" in unknown.stderr
    )


@pytest.mark.parametrize(
    "override,line",
    [
        ("trainer.maxepochs=3", "trainer.maxepochs is not a setting of this config: did you mean trainer.max_epochs?"),
        ("data.vocabsize=5", "data.vocabsize is not a setting of this config: did you mean data.vocab_size?"),
        ("seeed=1", "seeed is not a setting of this config: did you mean seed?"),
        ("modle=big", "modle is not a setting of this config: did you mean model?"),
        ("trainer.gradient_clip_val=1", "trainer.gradient_clip_val is not a setting of this config (python train.py"),
        ("optimizer.lr=0.1", "optimizer.lr is not a setting of this config: did you mean model.optimizer.lr?"),
        (
            "model.optimiser.lr=0.1",
            "model.optimiser.lr is not a setting of this config: did you mean model.optimizer.lr?",
        ),
        (
            "hydra/launcher=jobib",
            "hydra/launcher=jobib: there is no conf/hydra/launcher/jobib.yaml; did you mean hydra/launcher=joblib?",
        ),
        ("model=dropuot", "model=dropuot: there is no conf/model/dropuot.yaml; did you mean model=dropout? choose one"),
        ("model=", "model= needs a value: choose one of baseline, big, dropout, early_stopping"),
    ],
)
def test_a_misspelt_override_is_explained_in_one_line(override, line):
    """What train.py prints (cli.run_hydra_main) for the errors Hydra raises on a bad override."""
    with pytest.raises(HYDRA_ERRORS) as err:
        compose_train([override])
    explained = explain_config_error(err.value, REPO / "conf", "train", [override])
    assert explained.startswith(line) and "\n" not in explained
    assert "did you mean" not in line or "+" not in explained  # a close match: no `+key=` advice that would be ignored


@pytest.mark.slow
def test_a_misspelt_sweep_is_one_line_and_leaves_no_sweep_dir(tmp_path):
    out = run_cli("train.py", "-m", "model=baseline,dropuot", f"paths.log_dir={tmp_path}")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr  # no HPARAMS warning either
    assert out.stderr.startswith(
        "error: model=dropuot: there is no conf/model/dropuot.yaml; did you mean model=dropout?"
    )
    assert not (tmp_path / "multiruns").exists() or not any((tmp_path / "multiruns").iterdir())
    full = run_cli("eval.py", "ckpt_path=x", "modle=3", env={"HYDRA_FULL_ERROR": "1"})  # the user's choice stands
    assert full.returncode == 1 and "Traceback" in full.stderr and "Could not override 'modle'" in full.stderr
    # A process that train.py started (a DDP rank runs train.py again) inherits our HYDRA_FULL_ERROR: still one line.
    inherited = {"HYDRA_FULL_ERROR": "1", "OVERFIT_SET_HYDRA_FULL_ERROR": "1"}
    child = run_cli("train.py", "modle=3", f"paths.log_dir={tmp_path}", env=inherited)
    assert child.returncode == 2 and child.stderr.startswith("error: modle is not a setting"), child.stderr


@pytest.mark.parametrize("model,refresh", [("baseline", 10), ("factorization", 100)])
def test_the_progress_bar_redraws_every_few_steps(train_cfg, model, refresh):
    """Lightning's default bar redraws every step (in a terminal that costs about a baseline step); ours every few."""
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks.progress import ProgressBar

    shown = instantiate(train_cfg(f"model={model}", "trainer.enable_progress_bar=true").callbacks.progress_bar)
    assert isinstance(shown, ProgressBar) and shown.refresh_rate == refresh
    trainer = L.Trainer(callbacks=[shown], logger=False, enable_checkpointing=False)
    assert trainer.progress_bar_callback is shown  # the Trainer takes it instead of its own
    hidden = instantiate(train_cfg(f"model={model}").callbacks.progress_bar)  # the fixture switches bars off
    assert not isinstance(hidden, ProgressBar)
    L.Trainer(callbacks=[hidden], enable_progress_bar=False, logger=False, enable_checkpointing=False)


@pytest.mark.parametrize("kind", ["rich", "tqdm"])
def test_the_progress_bar_counts_epochs_from_one(kind):
    """As the checkpoints (epoch_001.ckpt), the run summary and TensorBoard do: 'Epoch 1/2' .. 'Epoch 2/2'."""
    import importlib.util

    from lightning.pytorch.demos.boring_classes import BoringModel

    from overfit.runs.progress import RichBar, TQDMBar

    if kind == "rich" and importlib.util.find_spec("rich") is None:
        pytest.skip("rich is not installed (not a dependency): progress_bar() gives the tqdm bar, tested beside")
    bar = RichBar(refresh_rate=1) if kind == "rich" else TQDMBar(refresh_rate=1)
    shown = []

    class Shown(L.Callback):  # after the bar's own hook: what the bar displays for this epoch
        def on_train_epoch_start(self, trainer, module):
            if kind == "rich":
                shown.append(bar.progress.tasks[bar.train_progress_bar_id].description.strip())
            else:
                shown.append(bar.train_progress_bar.desc.removesuffix(": "))  # tqdm adds the colon

    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[bar, Shown()],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(BoringModel())
    assert shown == ["Epoch 1/2", "Epoch 2/2"]


@pytest.mark.slow
def test_eval_and_predict_use_the_checkpoint(train_cfg, tiny_archive, tmp_path):
    cfg = train_cfg("model=baseline", "data.vocab_size=40", "model.optimizer.lr=0.01", epochs=5)
    train(cfg)
    trained = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["metrics"]
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"

    # The checkpoint holds plain data only, and carries the vocabulary and preprocessing.
    raw = torch.load(ckpt, weights_only=True)
    assert len(raw["IMDBDataModule"]["vocabulary"].split("\n")) == 40

    # eval.py takes the vocabulary size from the checkpoint, not from its own data config (10,000).
    eval_cfg = compose_train(
        [
            f"ckpt_path={ckpt}",
            f"data.archive={tiny_archive}",
            "data.sha256=null",
            f"paths.data_dir={tmp_path / 'data'}",
            f"paths.output_dir={tmp_path / 'eval'}",
            "trainer.enable_progress_bar=false",
        ],
        config_name="eval",
    )
    assert eval_cfg.data.vocab_size == 10_000 and eval_cfg.data.val_size == 10_000  # the defaults
    assert evaluate(eval_cfg) == pytest.approx(trained["test/acc"], abs=1e-6)

    p_pos, p_neg = predict(ckpt, ["A wonderful, brilliant masterpiece. Loved it!", "Awful, boring, a waste."])
    assert 0.0 < p_neg < 0.5 < p_pos < 1.0
    # A checkpoint from before 2026-12-01 (the vocabulary as a list, not one string) predicts the same.
    raw["IMDBDataModule"]["vocabulary"] = raw["IMDBDataModule"]["vocabulary"].split("\n")
    torch.save(raw, tmp_path / "older.ckpt")
    assert predict(tmp_path / "older.ckpt", ["A wonderful, brilliant masterpiece. Loved it!"]) == [p_pos]

    out = run_cli("predict.py", f"ckpt_path={ckpt}", "superb and charming", "dull mess")
    assert out.returncode == 0 and "positive  superb and charming" in out.stdout and "negative  dull mess" in out.stdout
    missing = run_cli("predict.py", f"ckpt_path={tmp_path / 'nope.ckpt'}", "text")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ckpt_path=")


def test_resume_with_other_vocabulary_is_refused_in_one_line(train_cfg, tmp_path):
    first = train_cfg(f"paths.output_dir={tmp_path / 'first'}")
    train(first)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    # epochs=2: resuming a finished 1-epoch run would just say so (tests/test_faults_runs.py)
    other = train_cfg(f"paths.output_dir={tmp_path / 'other'}", "data.vocab_size=30", f"ckpt_path={last}", epochs=2)
    with pytest.raises(OverfitError, match="data.vocab_size=30: the run was started with data.vocab_size=50"):
        train(other)  # refused from the checkpoint's record, before the data
    # Another archive (where the run reads its data may change on resume) gives other words: refused once read.
    archive = make_imdb_archive(tmp_path / "other_archive.tar.gz", seed=7)
    moved = train_cfg(
        f"paths.output_dir={tmp_path / 'moved'}", f"data.archive={archive}", f"ckpt_path={last}", epochs=2
    )
    with pytest.raises(OverfitError, match="vocabulary") as err:
        train(moved)
    assert "\n" not in str(err.value)


def test_early_stopping_stops_and_tests_the_best_epoch(train_cfg):
    # min_delta=10: no epoch after the first counts as an improvement, so with patience 1 the run
    # must stop after its second epoch; the test uses the best of those two by val loss.
    cfg = train_cfg(
        "model=early_stopping",
        "callbacks.early_stopping.min_delta=10",
        "callbacks.early_stopping.patience=1",
        epochs=10,
    )
    train(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["early_stopped"] and record["epochs_run"] == 2
    assert Path(record["tested_checkpoint"]).name in ("best_epoch_001.ckpt", "best_epoch_002.ckpt")
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1  # a real file for resuming, not a link to the best epoch
