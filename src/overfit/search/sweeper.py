"""Hyperparameter search on current Optuna through Hydra: `python train.py -m hparams_search=optuna`.

One command is one *worker*. It opens (or creates) the study in Optuna's own storage, then over and over asks the
study for a trial, runs it through the configured Hydra launcher as a normal job (its own dir, TensorBoard run,
metrics.json), and tells the study how it ended, until the study holds `n_trials` trials. Several workers started
with the same command (shells, a SLURM array) share the study and each pulls the next trial; a worker that dies
loses only its trial in progress (marked FAIL, `lost`), and running the command again resumes the study.
Asks are serialized by a lock file beside a journal storage, so workers never overshoot n_trials (with
an RDB they can, by at most workers - 1); heartbeats, lost trials and that lock: workers.py.

A trial is scored by the weights it keeps and tests (objective.py): it keeps its best epoch by val/acc
and reports val/acc_best, that epoch's val/acc. Pruning: each trial's `ReportToTrial` callback reports the same
metric to its trial after every validation epoch and, when the study's pruner says so, stops the run after that
epoch. The run still finishes as a run (test, summary, metrics.json); the worker then records the trial as
PRUNED. Under DDP only rank 0 talks to the study.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from overfit.search import objective as search_objective
from overfit.search.space import (
    SearchError,
    build,
    first_line,
    make_pruner,
    open_storage,
    parse_space,
    plain,
    quote,
    storage_url,
)
from overfit.search.workers import HOST, ask_lock, fail_lost, heartbeat, mark_lost

log = logging.getLogger("overfit")


class Search:
    """One worker of a study; the Hydra sweeper's setup() builds it and sweep() calls run()."""

    def __init__(self, settings: dict, config: DictConfig, launcher: Any):
        self.settings, self.config, self.launcher = settings, config, launcher
        self.job_idx, self.launched, self.failures = 0, 0, []
        self.trial_ids: dict[int, int] = {}  # trial number -> the storage's id (see trial_id)

    def run(self, arguments: list[str]) -> None:
        from overfit.search.report import write_results

        try:
            study = self.prepare(arguments)
        except SearchError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        while batch := self.ask(study):
            self.run_batch(study, batch)
            if self.failures and len(self.failures) / self.launched > float(self.settings["max_failure_rate"]):
                write_results(self, study)
                trial, err = self.failures[-1]
                log.error(f"trial {trial.number} failed", exc_info=err if isinstance(err, BaseException) else None)
                print(
                    f"error: trial {trial.number} failed ({trial.user_attrs.get('run_dir', '?')}): "
                    f"{type(err).__name__}: {first_line(err)} (hydra.sweeper.max_failure_rate="
                    f"{self.settings['max_failure_rate']}: raise it to go on past failed trials)",
                    file=sys.stderr,
                    flush=True,
                )
                sys.exit(1)
        write_results(self, study)

    def prepare(self, arguments: list[str]) -> Any:
        import optuna

        s = self.settings
        self.study_name = str(s["study_name"])
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.study_name):
            raise SearchError(f"hydra.sweeper.study_name={self.study_name}: use letters, digits, _ . - only")
        for key in ("n_trials", "n_jobs", "heartbeat_s", "importance_min_trials"):
            if not (isinstance(s[key], int) and s[key] >= 1):
                raise SearchError(f"hydra.sweeper.{key}={s[key]}: must be an integer >= 1")
        if s["direction"] not in ("maximize", "minimize"):
            raise SearchError(f"hydra.sweeper.direction={s['direction']}: maximize or minimize")
        lines = [f"{k}={v}" for k, v in (plain(s.get("params")) or {}).items()] + arguments
        self.space, fixed = parse_space(lines)
        if not self.space:
            raise SearchError("hydra.sweeper.params: no interval(), range() or choice(): nothing to search")
        missing = object()
        for key in self.space:
            plain_key = key.lstrip("+~")
            if (
                key[0] not in "+~"
                and "/" not in key
                and not key.startswith("hydra.")
                and OmegaConf.select(self.config, plain_key, default=missing, throw_on_resolution_failure=False)
                is missing
            ):
                raise SearchError(f"search space {key}: no such key in the config (a typo? +{key} adds one)")
        self.fixed = list(fixed.values())
        self.objective = search_objective.check(self.config)  # what the trials report is what they keep
        self.fingerprint = sorted(arguments)
        sweep_dir = OmegaConf.select(self.config, "hydra.sweep.dir")
        self.storage = storage_url(str(s.get("storage") or Path(sweep_dir) / "optuna.journal"))
        sampler = build(s.get("sampler") or {"_target_": "TPESampler"}, "hydra.sweeper.sampler", "optuna.samplers")
        pruner = make_pruner(s)
        # last: a bad setting leaves no study behind. Kept: the trials' storage ids are public through it only
        self.store = storage = open_storage(self.storage)
        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()  # Optuna's lines go where Hydra's log goes
        try:
            study = optuna.create_study(
                study_name=self.study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                direction=s["direction"],
                load_if_exists=True,
            )
        except Exception as err:
            raise SearchError(
                f"hydra.sweeper.study_name={self.study_name} in {self.storage}: {first_line(err)}"
            ) from None
        started = study.user_attrs.get("overrides")
        if started is None:
            study.set_user_attr("overrides", self.fingerprint)
        elif started != self.fingerprint:
            raise SearchError(
                f"study {self.study_name} in {self.storage} was started with the overrides {started}, "
                f"not {self.fingerprint}: resume it with the same command, or start another with "
                "hydra.sweeper.study_name=<new name>"
            )
        self.study_id = storage.get_study_id_from_name(self.study_name)
        log.info(f"optuna {optuna.__version__}: study {self.study_name} in {self.storage}, worker {HOST}:{os.getpid()}")
        return study

    def ask(self, study: Any) -> list:
        """Up to n_jobs new trials, so that the study holds at most n_trials (lost ones not counted)."""
        from optuna.trial import TrialState

        fail_lost(study, self.store, int(self.settings["heartbeat_s"]))
        with ask_lock(self.storage):
            held_trials = [
                t
                for t in study.get_trials(deepcopy=False)
                if t.state != TrialState.WAITING and "lost" not in t.user_attrs
            ]
            room = min(int(self.settings["n_jobs"]), int(self.settings["n_trials"]) - len(held_trials))
            batch = [study.ask(self.space) for _ in range(max(room, 0))]
            for trial in batch:
                trial.set_user_attr("worker", f"{HOST}:{os.getpid()}")
                trial.set_user_attr("heartbeat", time.time())
        return batch

    def trial_id(self, trial: Any) -> int:
        """The storage's id of `trial` (what a storage's trial methods take), looked up by the trial's number."""
        if trial.number not in self.trial_ids:
            self.trial_ids[trial.number] = self.store.get_trial_id_from_study_id_trial_number(
                self.study_id, trial.number
            )
        return self.trial_ids[trial.number]

    def overrides(self, trial: Any) -> tuple[str, ...]:
        sampled = [f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()]
        where = [
            f"++optuna_trial.study={self.study_name}",
            f"++optuna_trial.storage={quote(self.storage)}",
            f"++optuna_trial.number={trial.number}",
        ]
        return tuple(self.fixed + sampled + where)

    def run_batch(self, study: Any, batch: list) -> None:
        try:
            with heartbeat(self.store, [self.trial_id(t) for t in batch], int(self.settings["heartbeat_s"])):
                returns = self.launcher.launch([self.overrides(t) for t in batch], initial_job_idx=self.job_idx)
        except BaseException:  # Ctrl-C, SIGTERM, a launcher error: the trials did not finish
            for trial in batch:
                mark_lost(study, self.store, trial, "its worker was interrupted")
            raise
        self.job_idx += len(returns)
        self.launched += len(returns)
        for trial, ret in zip(batch, returns):
            try:
                self.tell(study, trial, ret)
            except (RuntimeError, ValueError) as err:  # finished meanwhile: another worker took it for lost
                log.warning(f"optuna: trial {trial.number} was closed by another worker ({first_line(err)})")

    def tell(self, study: Any, trial: Any, ret: Any) -> None:
        import optuna
        from hydra.core.utils import JobStatus

        run_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg else None
        if run_dir:
            trial.set_user_attr("run_dir", str(run_dir))
        outcome = job_outcome(ret)
        attrs = self.store.get_trial(self.trial_id(trial)).user_attrs  # fresh: the job wrote pruned_at_epoch
        completed = ret.status == JobStatus.COMPLETED
        if isinstance(outcome, optuna.TrialPruned) or (completed and "pruned_at_epoch" in attrs):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            log.info(f"optuna: trial {trial.number} pruned after epoch {attrs.get('pruned_at_epoch', '?')} ({run_dir})")
            return
        value = float(outcome) if completed and isinstance(outcome, (int, float)) else math.nan
        if math.isfinite(value):
            study.tell(trial, value)
            log.info(f"optuna: trial {trial.number} complete, {value:.4f} ({run_dir})")
            return
        if completed:
            outcome = ValueError(f"the run returned {outcome!r}, not a number (optimized_metric)")
        trial.set_user_attr("error", f"{type(outcome).__name__}: {first_line(outcome)}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.warning(f"optuna: trial {trial.number} failed: {type(outcome).__name__}: {first_line(outcome)} ({run_dir})")
        self.failures.append((self.store.get_trial(self.trial_id(trial)), outcome))


def job_outcome(ret: Any) -> Any:
    """What a job returned, or the exception it raised (None if it never ran). Through JobReturn's public
    return_value, which re-raises a failed job's exception after a notice on stderr: the worker logs each failure
    itself, with the trial's number and run dir, so the notice is dropped."""
    from hydra.core.utils import JobStatus

    if ret.status == JobStatus.COMPLETED:
        return ret.return_value
    if ret.status != JobStatus.FAILED:
        return None
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            ret.return_value  # noqa: B018 (raises the job's exception)
    except Exception as err:  # noqa: BLE001 (run_job keeps any Exception the task raised)
        return err
    return None
