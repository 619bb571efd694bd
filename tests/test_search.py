"""The Optuna search (`python train.py -m hparams_search=optuna`, src/overfit/search*.py, our Hydra sweeper plugin):
resume of a stored study and the best trial's command, a killed worker, pruning, two workers on one study, DDP
inside a trial. Search spaces, pruner choices and bad search settings as one error line: test_search_space.py."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import forked
import hydra
import lightning as L
import matplotlib.image
import optuna
import pytest
import yaml
from conftest import CONF, REPO
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from test_compare import NO_COMPARE_AT_END, run_py, sweep_overrides
from test_sweeps import DDP_CPU, PROBE, trial_dirs

from overfit.cli import accept_null_groups, run_hydra_main, run_task
from overfit.runs import dirs as rundir
from overfit.train import train

SEARCH = ["train.py", "-m", "hparams_search=optuna"]
PARAMS = {"model.optimizer.lr", "model.optimizer.weight_decay", "model.dropout", "model.hidden"}


def journal(tmp_path: Path, name: str = "overfit_imdb") -> optuna.storages.JournalStorage:
    """The default storage of a search whose paths.log_dir is tmp_path/logs."""
    path = tmp_path / "logs" / "optuna" / f"{name}.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
def _train_main(cfg):  # train.py's main(), with an absolute config path (a test module is not a script)
    return run_task(train, cfg, script=str(REPO / "train.py"))


def search_in_process(*args: str) -> subprocess.CompletedProcess:
    """`python train.py <args>` in this process, as run_py runs it in a new one (returncode, stdout, stderr), in a
    second where a process takes ~15 (imports, plugin scan). Hydra's job logging, its singletons, argv, the run dir
    claims and the environment (HYDRA_FULL_ERROR, PL_GLOBAL_SEED) are put back afterwards."""
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = sys.argv, list(root.handlers), root.level, dict(os.environ), HydraConfig.instance().cfg
    code = 0
    try:
        sys.argv = accept_null_groups([str(REPO / "train.py"), *args, "hydra.job.name=train"], CONF)
        rundir.forget_claims()
        GlobalHydra.instance().clear()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run_hydra_main(_train_main, CONF, "train")
    except SystemExit as stop:
        code = stop.code
    finally:
        for handler in root.handlers:
            if handler not in saved[1]:
                handler.close()
        sys.argv, root.handlers[:], root.level = saved[0], saved[1], saved[2]
        os.environ.clear()
        os.environ.update(saved[3])
        HydraConfig.instance().cfg = saved[4]  # else later runs in this process would think they are in a sweep
        GlobalHydra.instance().clear()
    return subprocess.CompletedProcess(["train.py", *args], code, out.getvalue(), err.getvalue())


def start(*args: str) -> forked.Job:
    """`python <args>` as run_py runs it (a forked child, tests/ importable), started at once beside any other:
    workers that must run side by side."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    return forked.start([sys.executable, *args], cwd=REPO, env=env, queue=False)


class Stall(L.Callback):
    """The first run to get here (no `marker` file yet) writes the marker and hangs: a worker to kill mid-trial."""

    def __init__(self, marker: str):
        self.marker = Path(marker)

    def on_train_epoch_end(self, trainer, pl_module):
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            time.sleep(600)


class Rendezvous(L.Callback):
    """Each worker's first trial waits (up to 60 s) until `parties` workers have a trial running."""

    def __init__(self, folder: str, parties: int = 2):
        self.folder, self.parties = Path(folder), parties

    def on_train_start(self, trainer, pl_module):
        self.folder.mkdir(exist_ok=True)
        (self.folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while len(list(self.folder.iterdir())) < self.parties and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_search_resumes_a_stored_study_and_its_best_command_reproduces_the_best_trial(tiny_archive, tmp_path):
    args = [*SEARCH[1:], *sweep_overrides(tiny_archive, tmp_path)]
    sweep = tmp_path / "logs" / "optuna" / "overfit_imdb"  # one dir per study, whichever command ran the trials
    # as optuna.yaml has it: no comparison at the end, whose table of every trial the search's report replaces
    first = search_in_process(*[a for a in args if a != NO_COMPARE_AT_END], "hydra.sweeper.n_trials=2")
    assert first.returncode == 0, first.stderr[-3000:]
    study = optuna.load_study(study_name="overfit_imdb", storage=journal(tmp_path))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert f"best parameters: {sweep / 'optimization_results.yaml'}" in first.stdout
    assert not (sweep / "comparison").exists() and "comparison of" not in first.stdout  # the report is its summary
    again = search_in_process(*args, "hydra.sweeper.n_trials=3")  # the same study, one trial more
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="overfit_imdb", storage=journal(tmp_path))
    assert [t.number for t in study.trials] == [0, 1, 2] and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert [p.name for p in trial_dirs(sweep)] == ["0_search", "1_search", "2_search"]
    for trial, run in zip(study.trials, trial_dirs(sweep)):  # each trial a normal run of what Optuna asked for
        record = json.loads((run / "metrics.json").read_text())
        assert record["variant"] == "search" and record["metrics"]["val/acc_best"] == pytest.approx(trial.value)
        assert list(run.rglob("events.out.tfevents.*"))
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert config["model"]["hidden"] == json.loads(trial.params["model.hidden"])
        assert config["model"]["optimizer"]["lr"] == pytest.approx(trial.params["model.optimizer.lr"])
        assert trial.user_attrs["run_dir"] == str(run) and len(trial.intermediate_values) == 1
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == PARAMS and best["best_value"] == pytest.approx(study.best_value)
    assert best["best_trial"] == study.best_trial.number and best["trials"]["complete"] == 3
    rows = list(csv.DictReader(open(sweep / "trials.csv")))
    assert [(r["number"], r["state"], r["run_dir"]) for r in rows] == [
        (str(t.number), "COMPLETE", t.user_attrs["run_dir"]) for t in study.trials
    ]
    # other settings under the same study name would mix incomparable trials: one line, nothing run
    other = search_in_process(*args, "hydra.sweeper.n_trials=4", "trainer.max_epochs=2")
    assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr[-3000:]
    assert other.stderr.startswith("error: study overfit_imdb in ") and "hydra.sweeper.study_name=" in other.stderr
    assert len(optuna.load_study(study_name="overfit_imdb", storage=journal(tmp_path)).trials) == 3
    # the printed command re-runs the best trial as a plain run, to the same validation accuracy (of the same
    # kept weights: test_search_objective.py)
    words = shlex.split(best["command"])
    assert words[:2] == ["python", os.path.relpath(REPO / "train.py")]
    rerun = search_in_process(*words[2:], f"hydra.run.dir={tmp_path / 'rerun'}")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    record = json.loads((tmp_path / "rerun" / "metrics.json").read_text())
    assert record["metrics"]["val/acc_best"] == pytest.approx(best["best_value"])


@pytest.mark.slow
def test_a_killed_worker_loses_only_its_trial_and_the_same_command_resumes(tiny_archive, tmp_path):
    db = f"sqlite:///{tmp_path / 'optuna.db'}"  # an RDB (SQLAlchemy 2) this time
    args = [
        *SEARCH,
        *sweep_overrides(tiny_archive, tmp_path),
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage={db}",
        "+callbacks.stall._target_=test_search.Stall",
        f"+callbacks.stall.marker={tmp_path / 'stalled'}",
    ]
    worker, ended = start(*args), None  # one process, no children (data.num_workers: 0): a kill is the worker's end
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "stalled").exists() and time.monotonic() < deadline:
            if (ended := worker.poll()) is not None:
                break
            time.sleep(0.2)
        assert (tmp_path / "stalled").exists(), ended.stderr[-3000:] if ended else "no trial stalled in 120 s"
    finally:
        if ended is None:
            with contextlib.suppress(ProcessLookupError):  # it may have ended since
                os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
    study = optuna.load_study(study_name="overfit_imdb", storage=db)
    assert [t.state for t in study.trials] == [TrialState.RUNNING]  # what the dead worker left
    result = run_py(*args)  # the same command
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="overfit_imdb", storage=db)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert "is gone" in study.trials[0].user_attrs["lost"]
    assert "trial 0 lost" in result.stdout


@pytest.mark.slow
def test_a_clearly_worse_trial_is_pruned_and_recorded_as_pruned(tiny_archive, tmp_path):
    study = optuna.create_study(study_name="overfit_imdb", storage=journal(tmp_path), direction="maximize")
    good = {
        "model.optimizer.lr": 1e-2,
        "model.optimizer.weight_decay": 1e-6,
        "model.dropout": 0.0,
        "model.hidden": "[64,64]",
    }
    study.enqueue_trial(good)
    study.enqueue_trial({**good, "model.optimizer.lr": 1e-4, "model.dropout": 0.6, "model.hidden": "[16,16]"})
    result = search_in_process(
        *SEARCH[1:],
        *sweep_overrides(tiny_archive, tmp_path),
        "trainer.max_epochs=6",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruners.median.n_startup_trials=1",
        "hydra.sweeper.pruners.median.n_warmup_steps=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="overfit_imdb", storage=journal(tmp_path))
    complete, pruned = study.trials
    assert complete.state == TrialState.COMPLETE and len(complete.intermediate_values) == 6
    assert pruned.state == TrialState.PRUNED, pruned.intermediate_values  # a pruned trial is no failure
    epochs = pruned.user_attrs["pruned_at_epoch"]
    assert 2 <= epochs < 6 and sorted(pruned.intermediate_values) == list(range(epochs))
    assert pruned.intermediate_values[epochs - 1] < complete.intermediate_values[epochs - 1]
    # the pruned trial is still a normal run: it stopped after that epoch, tested, and wrote metrics.json
    record = json.loads((Path(pruned.user_attrs["run_dir"]) / "metrics.json").read_text())
    assert record["epochs_run"] == epochs and "test/acc" in record["metrics"]
    assert f"trial 1 pruned after epoch {epochs}" in result.stdout
    results = yaml.safe_load((Path(complete.user_attrs["run_dir"]).parent / "optimization_results.yaml").read_text())
    assert results["trials"] == {"complete": 1, "pruned": 1, "failed": 0, "running": 0}
    assert results["best_trial"] == 0 and results["epochs_saved_by_pruning"] == 6 - epochs
    for name in results["figures"]:  # valid PNGs
        image = matplotlib.image.imread(Path(complete.user_attrs["run_dir"]).parent / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0, name
    assert "optuna_intermediate_values.png" in results["figures"]


@pytest.mark.slow
def test_two_workers_share_one_study_without_duplicate_trials(tiny_archive, tmp_path):
    args = [
        *SEARCH,
        *sweep_overrides(tiny_archive, tmp_path),
        "hydra.sweeper.n_trials=4",
        "cpu_threads=1",
        "+callbacks.meet._target_=test_search.Rendezvous",
        f"+callbacks.meet.folder={tmp_path / 'meet'}",
    ]
    workers = [start(*args) for _ in range(2)]
    for done in [w.wait(timeout=600) for w in workers]:
        assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(study_name="overfit_imdb", storage=journal(tmp_path))
    assert [t.number for t in study.trials] == [0, 1, 2, 3]  # n_trials in total, not per worker
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both pulled trials
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    sweep = tmp_path / "logs" / "optuna" / "overfit_imdb"
    assert [p.name for p in trial_dirs(sweep)] == ["0_search", "1_search", "2_search", "3_search"]
    for trial, run in zip(study.trials, trial_dirs(sweep)):  # each trial ran once, in its own dir, by its worker
        events = list(run.rglob("events.out.tfevents.*"))
        assert {e.name.split(".")[-2] for e in events} == {trial.user_attrs["worker"].rsplit(":", 1)[1]}
        assert json.loads((run / "metrics.json").read_text())["metrics"]["val/acc_best"] == pytest.approx(trial.value)


@pytest.mark.slow
def test_ddp_inside_a_search_trains_each_trial_once_with_agreeing_ranks(tiny_archive, tmp_path):
    """Lightning #11300: without overfit.runs.ddp, rank 1 re-ran the whole sweep (other hyperparameters, a second
    sweep dir). Rank 1 must not report to the study either: one intermediate value per trial and epoch."""
    result = run_py(*SEARCH, "hydra.sweeper.n_trials=2", *DDP_CPU, PROBE, *sweep_overrides(tiny_archive, tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["optuna"]
    sweep = tmp_path / "logs" / "optuna" / "overfit_imdb"
    trials = trial_dirs(sweep)
    assert [t.name for t in trials] == ["0_search", "1_search"]
    seen = []
    for trial in trials:
        rank0, rank1 = (json.loads((trial / f"rank{r}.json").read_text()) for r in (0, 1))
        assert rank0["world_size"] == 2 and rank0.pop("pid") != rank1.pop("pid")
        assert rank0 == rank1, trial.name  # both ranks trained this trial's hyperparameters
        config = yaml.safe_load((trial / ".hydra" / "config.yaml").read_text())
        assert rank0["lr"] == pytest.approx(config["model"]["optimizer"]["lr"])
        assert rank0["dropout"] == pytest.approx(config["model"]["dropout"])
        seen.append(rank0)
        assert json.loads((trial / "metrics.json").read_text())["epochs_run"] == 1
    assert seen[0]["lr"] != seen[1]["lr"]  # two trials, two settings
    ops = [json.loads(line) for line in (sweep.parent / "overfit_imdb.journal").read_text().splitlines()]
    assert sum(op["op_code"] == 7 for op in ops) == 2  # SET_TRIAL_INTERMEDIATE_VALUE: rank 0 only
    assert "optimization_results.yaml" in {p.name for p in sweep.iterdir()}
