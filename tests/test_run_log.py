"""Each run keeps its own log: <run dir>/train.log holds what the terminal showed (the summary, Lightning's lines,
warnings, errors, the interrupt's resume hint), also when nobody watches a terminal (a SLURM job); the terminal
itself shows what it showed before; progress-bar redraws stay out of the log; hparams.yaml holds the run's
hyperparameters (overfit/runs/train_log.py, overfit/runs/tensorboard.py)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import uuid
import warnings

import forked
import pytest
import yaml
from conftest import CONF, REPO, tiny_overrides
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from overfit import cli, shown
from overfit.errors import RunInterrupted
from overfit.runs import train_log as run_log

# Lightning warns about this with the tiny data (5 batches an epoch): a warning every run shows
LOG_INTERVAL_WARNING = "is smaller than the logging interval Trainer(log_every_n_steps=50)"
# and prints this info line for +trainer.limit_train_batches=1.0 (the lines a run prints unasked, "Seed set to 0",
# "`Trainer.fit` stopped: `max_epochs=1` reached.", are dropped: overfit/runs/console.py)
LIGHTNING_LINE = "`Trainer(limit_train_batches=1.0)` was configured so 100% of the batches per epoch will be used."


def train_py(*args: str, tmp_path, timeout: int = 300) -> subprocess.CompletedProcess:
    """train.py with its output in files, as under SLURM: nothing here reads a terminal (a forked child:
    tests/forked.py)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}  # every warning shows, as for a user
    cmd = [sys.executable, str(REPO / "train.py"), *args]
    return forked.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_train_log_holds_the_summary_lightning_warnings_and_the_error(tiny_archive, tmp_path):
    dropped = ("paths.output_dir", "trainer.enable_progress_bar", "trainer.log")
    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path) if not o.startswith(dropped)]
    # the bar on (its redraws must stay out of the log); an error after the summary (optimized_metric)
    extra = ["trainer.log_every_n_steps=50", "optimized_metric=nope", f"hydra.run.dir={tmp_path / 'run'}"]
    extra.append("+trainer.limit_train_batches=1.0")  # a Lightning line every such run prints (LIGHTNING_LINE)
    out = train_py(*overrides, *extra, tmp_path=tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    log = (tmp_path / "run" / "train.log").read_text()

    start = out.stdout.index("== overfit: baseline (seed 0) ==")
    summary = out.stdout[start : out.stdout.index("\n", out.stdout.index("ckpts ", start))]
    assert summary in log and "train.py ckpt_path=last" in summary  # the whole summary, the resume hint with it
    error = out.stderr.strip().splitlines()[-1]
    assert error.startswith("error: optimized_metric=nope: not logged by this run") and error in log
    assert log.index(summary) < log.index(error)
    assert LIGHTNING_LINE in out.stderr and LIGHTNING_LINE in log
    # the warning: on the terminal as Python prints it, once; in the log too
    warned = [line for line in out.stderr.splitlines() if LOG_INTERVAL_WARNING in line]
    assert len(warned) == 1 and ".py:" in warned[0], out.stderr  # <file>.py:<line>: <message>
    assert warned[0] in log and "[py.warnings]" not in out.stderr + out.stdout
    # the bar drew on the terminal, and not one redraw went into the log
    assert "it/s" in out.stdout + out.stderr
    assert "\r" not in log and "it/s" not in log and "Epoch 1/1" not in log

    hparams = yaml.safe_load((tmp_path / "run" / "hparams.yaml").read_text())
    assert hparams["model.variant"] == "baseline" and hparams["seed"] == 0 and hparams["model.hidden"] == [16, 16]
    assert hparams["trainer.max_epochs"] == 1 and hparams["model.optimizer"] == "RMSprop"


@pytest.mark.slow
def test_a_run_refused_after_the_data_was_read_still_leaves_no_dir(tiny_archive, tmp_path):
    """The archive was read and the error is in the log by then: still nothing worth a dir."""
    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path) if not o.startswith("paths.output_dir")]
    out = train_py(*overrides, "data.train_size=100000", tmp_path=tmp_path)
    assert out.returncode == 2 and "data.train_size=100000" in out.stderr.strip().splitlines()[-1], out.stderr
    assert "IMDB class counts" in out.stdout or "Reading IMDB" in out.stderr  # refused after some work
    assert list((tmp_path / "logs" / "runs").iterdir()) == []


@pytest.fixture
def job(tmp_path):
    """A Hydra job as @hydra.main sets one up: HydraConfig, the run dir, Hydra's file handler on the root."""
    with initialize_config_dir(str(CONF), version_base="1.3", job_name="train"):
        cfg = compose("train", return_hydra_config=True)
    out = tmp_path / "run"
    out.mkdir()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir, cfg.hydra.mode = str(out), "RUN"
    saved = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)
    handler = logging.FileHandler(out / "train.log")
    logging.getLogger().addHandler(handler)
    (out / "checkpoints").mkdir()  # a run that did something: its dir stays
    yield cfg, out / "train.log"
    logging.getLogger().removeHandler(handler)
    handler.close()
    HydraConfig.instance().cfg = saved


def test_the_interrupts_resume_hint_is_in_the_log(job, capsys):
    cfg, log = job
    hint = "SIGTERM during training at step 3: resume from epoch_001.ckpt with: python train.py ckpt_path=last"

    def task(_):
        raise RunInterrupted(hint, signal.SIGTERM)

    with pytest.raises(SystemExit) as stop:
        cli.run_task(task, cfg, script="train.py")
    assert stop.value.code == 128 + signal.SIGTERM
    assert capsys.readouterr().err == f"interrupted: {hint}\n"  # the terminal: as before
    assert f"interrupted: {hint}" in log.read_text()


def test_warnings_and_crashes_go_to_the_log_and_logging_is_restored(job, capsys):
    cfg, log = job
    before = warnings.showwarning, logging.getLogger("py.warnings").propagate
    message = f"a warning nobody would otherwise keep {uuid.uuid4().hex}"

    def task(_):
        warnings.warn(message, UserWarning, stacklevel=1)
        raise ValueError("boom")

    with pytest.raises(ValueError):
        cli.run_task(task, cfg, script="train.py")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if message in line]
    assert len(lines) == 1 and lines[0].endswith(f"UserWarning: {message}") and "[py.warnings]" not in err
    text = log.read_text()
    assert lines[0] in text
    assert "Traceback (most recent call last)" in text and "ValueError: boom" in text  # a crash: the log keeps it
    assert (warnings.showwarning, logging.getLogger("py.warnings").propagate) == before
    shown.show("after the run")  # nothing records outside a run
    assert "after the run" not in log.read_text()


def test_without_hydra_nothing_is_recorded_or_changed(capsys):
    with run_log.recorded():
        shown.show("plain")
    assert capsys.readouterr().out == "plain\n" and run_log.run_logs() == []


def _slurm_here() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM on this machine (.ci/slurm_up.sh sets up a one-node one)"
    idle = subprocess.run(["sinfo", "--noheader", "--format=%a %D"], capture_output=True, text=True, timeout=30)
    return None if idle.returncode == 0 and idle.stdout.split()[:1] == ["up"] else "SLURM does not answer here"


@pytest.mark.slow
def test_under_slurm_the_jobs_train_log_holds_its_summary(tiny_archive, tmp_path):
    # asked here, not in a skipif: where sinfo is installed but no controller answers it takes ~9 s to say so,
    # which a skipif would pay at every collection of this file (twice: condition and reason)
    if (why := _slurm_here()) is not None:
        pytest.skip(why)
    name = f"overfit_log_{uuid.uuid4().hex[:8]}"
    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path) if not o.startswith("paths.output_dir")]
    request = ["hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
    try:
        sweep = [f"hydra.job.name={name}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
        lightning = "+trainer.limit_train_batches=1.0"  # LIGHTNING_LINE
        out = train_py(
            "-m", "hydra/launcher=slurm", *request, *sweep, *overrides, lightning, tmp_path=tmp_path, timeout=240
        )
    finally:
        subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr[-3000:]
    log = (tmp_path / "sweep" / "0_baseline_s0" / f"{name}.log").read_text()
    assert "== overfit: baseline (seed 0) ==" in log and LIGHTNING_LINE in log
    assert "== overfit:" not in out.stdout  # the summary was printed on the job's node, not on this terminal
