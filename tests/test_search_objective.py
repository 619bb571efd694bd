"""A search scores what it keeps (issue 20): a trial's value is the validation accuracy of the weights the trial
tests, its pruning reports the same number, the best trial's command reproduces it, settings that would score
other weights are refused in one line, and parameter importance is not drawn from too few trials.

The searches run in this process (`search_in_process`: train.py's Hydra entry, the real sweeper and launcher):
seconds, where a `python train.py -m ...` subprocess costs about fifteen."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import lightning as L
import optuna
import pytest
import yaml
from conftest import CONF, REPO
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from test_compare import sweep_overrides
from test_search import SEARCH, journal, search_in_process

import overfit
from overfit.checkpoints.classifier import classifier_from_checkpoint, data_state, load_checkpoint
from overfit.search.space import SearchError


def compose_search(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def val_acc_of(run: Path, ckpt: Path) -> float:
    """The validation accuracy of a checkpoint's weights, measured afresh on the run's own validation split."""
    checkpoint = load_checkpoint(ckpt)
    model, state = classifier_from_checkpoint(checkpoint), data_state(checkpoint)  # the LightningModule: validate()
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    data = instantiate(cfg.data)
    data.prepare_data()
    data.setup("fit")
    data.load_state_dict(state)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.validate(model, datamodule=data, verbose=False)
    return float(trainer.callback_metrics["val/acc"])  # the model logs val/* for callbacks only (logger=False)


# On the tiny archive in 4 epochs, trial 0 peaks at epoch 2 (val acc 0.95, then 0.925) and beats the other two:
# the best trial's best epoch is not its last, so scoring one epoch and testing another shows.
TRIALS = [
    {"model.optimizer.lr": 1e-3, "model.dropout": 0.2, "model.hidden": "[64,64]"},
    {"model.optimizer.lr": 3e-3, "model.dropout": 0.3, "model.hidden": "[16,16]"},
    {"model.optimizer.lr": 1e-4, "model.dropout": 0.0, "model.hidden": "[16,16]"},
]


@pytest.mark.slow
def test_the_best_trial_is_scored_by_the_weights_it_tested_and_its_command_reproduces_them(tiny_archive, tmp_path):
    study = optuna.create_study(study_name="overfit_imdb", storage=journal(tmp_path), direction="maximize")
    for params in TRIALS:
        study.enqueue_trial({**params, "model.optimizer.weight_decay": 1e-6})
    args = [*SEARCH[1:], *sweep_overrides(tiny_archive, tmp_path, epochs=4), "hydra.sweeper.n_trials=3"]
    done = search_in_process(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = tmp_path / "logs" / "optuna" / "overfit_imdb"
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    study = optuna.load_study(study_name="overfit_imdb", storage=journal(tmp_path))
    assert results["trials"]["complete"] == 3 and results["best_trial"] == study.best_trial.number
    best = study.best_trial
    run = Path(best.user_attrs["run_dir"])
    record = json.loads((run / "metrics.json").read_text())
    tested = Path(record["tested_checkpoint"] or run / "checkpoints" / "last.ckpt")  # none: the final weights
    assert best.value == pytest.approx(val_acc_of(run, tested), abs=1e-6), tested.name
    assert record["best_val_epoch"] < record["epochs_run"]  # the case issue 20 was about: the best epoch not last
    assert results["best_value"] == best.value and "val/acc" in results["objective"]
    for trial in study.trials:  # pruned on the number the trial is scored by: its last report is its value
        assert trial.intermediate_values[max(trial.intermediate_values)] == pytest.approx(trial.value)
    # 3 complete trials: no importance figure, and the output says why and from how many trials it would be drawn
    assert "optuna_importance.png not drawn: 3 complete trials; parameter importance needs at least 10" in done.stdout
    assert "optuna_importance.png" in results["figures_not_drawn"] and not (sweep / "optuna_importance.png").exists()
    assert results["figures"] == ["optuna_history.png", "optuna_intermediate_values.png"]
    # the printed command, as a plain run: the same kept epoch, the same value, the same test accuracy
    words = shlex.split(results["command"])
    assert words[:2] == ["python", os.path.relpath(REPO / "train.py")] and "hparams_search=optuna" not in words
    again = overfit.run(*words[2:], f"hydra.run.dir={tmp_path / 'rerun'}")
    assert Path(again.record["tested_checkpoint"]).name == tested.name
    assert again.result == pytest.approx(best.value) and again.metrics["test/acc"] == pytest.approx(
        record["metrics"]["test/acc"]
    )
    assert again.result == pytest.approx(val_acc_of(again.dir, Path(again.record["tested_checkpoint"])), abs=1e-6)


@pytest.mark.parametrize("overrides", [(), ("model=early_stopping",), ("callbacks=early_stopping",)])
def test_every_trial_keeps_its_best_val_acc_epoch_and_the_command_keeps_it_too(overrides):
    from overfit.search import objective as search_objective

    cfg = compose_search("hparams_search=optuna", *overrides)
    assert "val/acc_best: val/acc of the epoch that callbacks.best_checkpoint keeps" in search_objective.check(cfg)
    kept = OmegaConf.to_container(cfg.callbacks, resolve=False)
    assert (kept["best_checkpoint"]["monitor"], kept["best_checkpoint"]["mode"]) == ("val/acc", "max")
    assert kept["optuna_pruning"]["monitor"] == "${optimized_metric}" and cfg.callbacks.optuna_pruning.monitor == (
        cfg.optimized_metric
    )
    assert ("early_stopping" in kept) == bool(overrides)  # a search with early stopping keeps it (on val/loss)
    plain = compose_search(*overrides, *search_objective.rerun_overrides(cfg, list(overrides)))
    del kept["optuna_pruning"]
    assert OmegaConf.to_container(plain.callbacks, resolve=False) == kept


@pytest.mark.parametrize(
    "overrides,says",
    [
        (["callbacks.best_checkpoint.monitor=val/loss", "callbacks.best_checkpoint.mode=min"], "does not measure"),
        (["callbacks.best_checkpoint=null"], "no monitored checkpoint keeps that epoch"),
        (["callbacks.optuna_pruning.monitor=val/acc"], "pruned on another number than they are scored by"),
        (["optimized_metric=val/loss"], "or test the final weights with callbacks.best_checkpoint=null"),
    ],
)
def test_settings_that_would_score_other_weights_than_the_tested_are_refused(overrides, says):
    from overfit.search import objective as search_objective

    with pytest.raises(SearchError) as refused:
        search_objective.check(compose_search("hparams_search=optuna", *overrides))
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_scoring_the_final_weights_is_allowed_when_the_final_weights_are_tested():
    from overfit.search import objective as search_objective

    cfg = compose_search("hparams_search=optuna", "callbacks.best_checkpoint=null", "optimized_metric=val/acc")
    assert search_objective.check(cfg).startswith("val/acc of the final weights")
    assert search_objective.rerun_overrides(cfg, []) == []


@pytest.mark.slow
def test_a_mismatched_search_fails_in_one_line_before_any_trial(tiny_archive, tmp_path):
    done = search_in_process(
        *SEARCH[1:], *sweep_overrides(tiny_archive, tmp_path), "callbacks.best_checkpoint.monitor=val/loss"
    )
    err = done.stderr
    assert done.returncode == 2 and err.count("\n") == 1 and err.startswith("error: optimized_metric=val/acc_best"), err
    assert not (tmp_path / "logs" / "optuna" / "overfit_imdb.journal").exists()  # no study, no trial


def test_importance_is_drawn_from_importance_min_trials_complete_trials_on(tmp_path):
    from overfit.search.report import plot

    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + 0.1 * t.suggest_float("y", 0, 1), n_trials=9)
    (tmp_path / "optuna_importance.png").write_bytes(b"drawn from 3 trials by an older version")
    drawn, not_drawn = plot(study, tmp_path, 9, 10)
    assert "optuna_importance.png" not in drawn and not (tmp_path / "optuna_importance.png").exists()
    assert not_drawn == {
        "optuna_importance.png": "9 complete trials; parameter importance needs at least 10 "
        "(hydra.sweeper.importance_min_trials)"
    }
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + 0.1 * t.suggest_float("y", 0, 1), n_trials=1)
    drawn, not_drawn = plot(study, tmp_path, 10, 10)
    assert "optuna_importance.png" in drawn and not not_drawn and (tmp_path / "optuna_importance.png").stat().st_size
