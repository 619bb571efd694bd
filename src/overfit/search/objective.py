"""What a search trial is scored by, and which weights it keeps: the two must be the same.

A trial reports `optimized_metric` (what train() returns) and is pruned on `callbacks.optuna_pruning.monitor`;
it keeps and tests the weights of the first monitored ModelCheckpoint (train.py), or its final weights when
there is none. The search (conf/hparams_search/optuna.yaml) keeps the best epoch by val/acc
(callbacks.best_checkpoint, from conf/callbacks/best_val_acc.yaml) and reports val/acc_best, the model's best
val/acc so far: the validation accuracy of exactly the tested weights. Settings under which the number a trial
is chosen by belongs to other weights than those it keeps (issue 20: the "best" trial, chosen for an epoch whose
weights were never saved, had the worst test accuracy of three) are refused in one line before any trial runs.

    check(config)                  -> the objective in words, for optimization_results.yaml; or a SearchError
    rerun_overrides(config, fixed) -> what a plain `python train.py` needs on top of `fixed` to keep the same weights
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from overfit.search.space import SearchError

# optimized_metric -> (the per-epoch metric, mode) of the checkpoint that keeps the epoch it comes from.
# val/acc_best: the model's best val/acc so far (models/mlp.py), first reached = ModelCheckpoint's strict "max".
BEST_OF = {"val/acc_best": ("val/acc", "max")}
KEEPS_BEST = "callbacks=best_val_acc"  # conf/callbacks/best_val_acc.yaml: the default callbacks + best_checkpoint


def tested_checkpoint(config: DictConfig) -> tuple[str, Any] | None:
    """(key under callbacks, its config) of the checkpoint whose best weights a run tests; None: the final ones.

    As train.py picks it: the first ModelCheckpoint (or subclass) with a monitor, in the callbacks' order."""
    from hydra.utils import get_object  # not get_class: it logs an error for every function target (progress_bar)
    from lightning.pytorch.callbacks import ModelCheckpoint

    for key, node in (OmegaConf.select(config, "callbacks") or {}).items():
        if node is None or not OmegaConf.is_dict(node) or not node.get("_target_"):
            continue
        try:
            cls = get_object(node["_target_"])
        except Exception:  # noqa: BLE001 (a bad callback target is the trial's own one-line error)
            continue
        if isinstance(cls, type) and issubclass(cls, ModelCheckpoint) and node.get("monitor"):
            return key, node
    return None


def check(config: DictConfig) -> str:
    """The objective in words if the trials are scored by the weights they keep; else a one-line SearchError."""
    metric = OmegaConf.select(config, "optimized_metric")
    if not metric:
        raise SearchError("optimized_metric=null: a search needs the metric each trial reports, e.g. val/acc_best")
    pruning = OmegaConf.select(config, "callbacks.optuna_pruning")
    if pruning is not None and pruning.get("monitor") != metric:
        raise SearchError(
            f"callbacks.optuna_pruning.monitor={pruning.get('monitor')} but optimized_metric={metric}: trials "
            f"would be pruned on another number than they are scored by; set callbacks.optuna_pruning.monitor={metric}"
        )
    kept = tested_checkpoint(config)
    if kept is None:
        if metric in BEST_OF:
            monitor, mode = BEST_OF[metric]
            raise SearchError(
                f"optimized_metric={metric} is the best epoch's {monitor}, but no monitored checkpoint keeps that "
                f"epoch: the trials would test their final weights; keep it with {KEEPS_BEST} (what "
                f"hparams_search=optuna does), or score the final weights with optimized_metric={monitor}"
            )
        return f"{metric} of the final weights (the last epoch trained), which each trial tests"
    key, node = kept
    if str(metric).startswith("test/"):
        return f"{metric} of the epoch that callbacks.{key} keeps, which each trial tests"
    if BEST_OF.get(metric) != (node.get("monitor"), node.get("mode", "min")):
        wanted = " ".join(f"callbacks.{key}.{k}={v}" for k, v in zip(("monitor", "mode"), BEST_OF.get(metric, ())))
        fix = (
            f"set {wanted}"
            if wanted
            else f"optimize {next(iter(BEST_OF))}, or test the final weights with callbacks.{key}=null"
        )
        raise SearchError(
            f"optimized_metric={metric} does not measure the weights the trials test: callbacks.{key} keeps the "
            f"epoch with the best {node.get('monitor')} ({node.get('mode', 'min')}); {fix}"
        )
    return f"{metric}: {node.get('monitor')} of the epoch that callbacks.{key} keeps, which each trial tests"


def rerun_overrides(config: DictConfig, fixed: list[str]) -> list[str]:
    """Overrides that make a plain run (no hparams_search) keep and test the weights a trial kept.

    The search merges best_val_acc's best_checkpoint into the run's callbacks: with the default callbacks that
    is `callbacks=best_val_acc`; with others (early_stopping defines its own best_checkpoint, on val/loss) the
    keys where the search's checkpoint differs. Overrides the user gave the search (`fixed`) come along anyway.
    """
    kept = tested_checkpoint(config)
    if kept is None:
        return []
    key, node = kept
    choice = OmegaConf.select(config, "hydra.runtime.choices.callbacks", default=None)
    if choice == "default" and key == "best_checkpoint":
        return [KEEPS_BEST]
    given = {line.split("=", 1)[0].lstrip("+~") for line in fixed}
    return [
        f"callbacks.{key}.{name}={node.get(name)}"
        for name in ("monitor", "mode")
        if f"callbacks.{key}.{name}" not in given and node.get(name) is not None
    ]
