"""`Search`: one worker of a study (one command), built and called by the Hydra sweeper plugin.

It opens (or creates) the study, then asks it for trials, runs each through the configured Hydra launcher as a
normal job (its own dir, TensorBoard run, metrics.json) and tells the study how it ended, until the study holds
`n_trials` (lost trials not counted), whichever workers ran them: so the same command resumes, and several share a
study. A trial ends as the job's value (COMPLETE), PRUNED when its `ReportToTrial` stopped it (the run still
finished as a run), or FAIL with its error; more failures than `max_failure_rate` stop the worker in one line.
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
from overfit.search.report import write_results
from overfit.search.space import (
    SearchError,
    as_overrides,
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
        self.launched, self.failures = 0, []  # jobs this worker launched (Hydra's job index too), failed trials

    def run(self, arguments: list[str]) -> None:
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
        fingerprint = sorted(arguments)
        sweep_dir = OmegaConf.select(self.config, "hydra.sweep.dir")
        self.storage = storage_url(str(s.get("storage") or Path(sweep_dir) / "optuna.journal"))
        sampler = build(s.get("sampler") or {"_target_": "TPESampler"}, "hydra.sweeper.sampler", "optuna.samplers")
        pruner = make_pruner(s)
        # last: a bad setting leaves no study behind. Kept: a lost FrozenTrial is marked through it (workers.py)
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
            study.set_user_attr("overrides", fingerprint)
        elif started != fingerprint:
            raise SearchError(
                f"study {self.study_name} in {self.storage} was started with the overrides {started}, "
                f"not {fingerprint}: resume it with the same command, or start another with "
                "hydra.sweeper.study_name=<new name>"
            )
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

    def overrides(self, trial: Any) -> tuple[str, ...]:
        where = [
            f"++optuna_trial.study={self.study_name}",
            f"++optuna_trial.storage={quote(self.storage)}",
            f"++optuna_trial.number={trial.number}",
        ]
        return tuple(self.fixed + as_overrides(trial.params) + where)

    def run_batch(self, study: Any, batch: list) -> None:
        try:
            with heartbeat(batch, int(self.settings["heartbeat_s"])):
                returns = self.launcher.launch([self.overrides(t) for t in batch], initial_job_idx=self.launched)
        except BaseException:  # Ctrl-C, SIGTERM, a launcher error: the trials did not finish
            for trial in batch:
                mark_lost(study, self.store, trial, "its worker was interrupted")
            raise
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
        # read back: the job (another process, or its own storage) wrote pruned_at_epoch; trial.user_attrs is a cache
        attrs = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number).user_attrs
        completed = ret.status == JobStatus.COMPLETED
        if completed and "pruned_at_epoch" in attrs:  # ReportToTrial stopped it; the run ended as a run
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            log.info(f"optuna: trial {trial.number} pruned after epoch {attrs['pruned_at_epoch']} ({run_dir})")
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
        self.failures.append((trial, outcome))


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
