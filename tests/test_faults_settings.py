"""Fault injection on whole runs, continued: settings that must fail in one line before the long work, logger=null,
runs that must never write into another run's directory or resume with another variant, and the summary's resume line.
"""

from __future__ import annotations

import json
import sys

import forked
import pytest
import torch
from conftest import REPO, tiny_overrides
from test_faults_runs import TINY, start_train_py, train_py

# ---- one line, before the long work ---------------------------------------------------------------------------

BAD = [
    ("seed=-1", "seed=-1"),
    ("seed=4294967296", "seed=4294967296"),
    ("model=l2 model.optimizer.weight_decay=-0.001", "model.optimizer.weight_decay=-0.001"),
    ("paths.log_dir=/dev/null/logs", "/dev/null/logs"),
    ("callbacks.model_checkpoint.dirpath=/dev/null/ckpts", "callbacks.model_checkpoint.dirpath=/dev/null/ckpts"),
    ("ckpt_path=/nonexistent/last.ckpt", "ckpt_path=/nonexistent/last.ckpt"),
    ("model=factorization", "model=factorization needs MatrixDataModule data, not this config's IMDBDataModule"),
    (
        "trainer=ddp trainer.accelerator=cpu trainer.devices=2 data.batch_size=15",
        "data.batch_size=15 is the global batch and must split evenly over 2 DDP ranks",
    ),
]


@pytest.fixture(scope="module")
def bad_runs(request, tiny_archive, tmp_path_factory):
    """{override: (its tmp dir, its run)}: the selected cases below, all started at once (each is Hydra's
    composing and our checks, one thread, before any data), each in a tmp dir of its own; each test waits for its
    own."""
    runs = {}
    for override in forked.selected(request, "test_bad_settings_fail_in_one_line_before_the_data", "override"):
        tmp = tmp_path_factory.mktemp("bad")
        # paths.log_dir: the run dir itself cannot be made, so Hydra's default (under paths.log_dir) is kept
        default_run_dir = override.startswith("paths.log_dir")
        args, where = (*override.split(), *TINY), {"tmp_path": tmp, "archive": tiny_archive}
        runs[override] = tmp, start_train_py(*args, **where, default_run_dir=default_run_dir, queue=False)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("override,culprit", BAD)
def test_bad_settings_fail_in_one_line_before_the_data(override, culprit, bad_runs):
    tmp_path, run = bad_runs[override]
    out = run.wait(timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and culprit in line, line
    assert "IMDB class counts" not in out.stdout  # failed before reading any data
    assert not (tmp_path / "data" / "cache").exists()


@pytest.mark.slow
def test_a_sweep_job_refused_is_one_line_and_leaves_no_job_dir(tiny_archive, tmp_path):
    """In a -m sweep a job's bad value ends the sweep (Hydra's basic sweeper fails fast) in one error line, exit 2."""
    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path, 1) if not o.startswith("paths.output_dir")]
    out = forked.run(
        [sys.executable, str(REPO / "train.py"), "-m", "model.optimizer.lr=0.01,0", *overrides, *TINY],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "error: model.optimizer.lr=0: the learning rate must be > 0, e.g. model.optimizer.lr=1e-3"
    )
    assert "Traceback" not in out.stderr
    (sweep,) = (tmp_path / "logs" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir()) == ["0_baseline_s0", "multirun.yaml"]  # job 1 left nothing


@pytest.fixture(scope="module")
def seeds_runs(request, tmp_path_factory):
    """{value: its run}, the selected cases below started at once (refused while composing), each in a tmp dir of
    its own."""
    return {
        value: forked.start(
            [sys.executable, str(REPO / "train.py"), "experiment=regularization", f"seeds={value}"],
            cwd=tmp_path_factory.mktemp("seeds"),
            queue=False,
        )
        for value in forked.selected(request, "test_seeds_below_one_is_one_line", "value")
    }


@pytest.mark.slow
@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_seeds_below_one_is_one_line(value, seeds_runs):
    out = seeds_runs[value].wait(timeout=300)
    assert (
        out.returncode == 2
        and out.stderr == f"error: seeds={value}: the number of seeds must be an integer >= 1, e.g. seeds=3\n"
    )


@pytest.mark.slow
def test_logger_null_is_accepted_as_no_logger(tiny_archive, tmp_path):
    out = train_py("logger=null", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=1)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not list((tmp_path / "run").glob("events.out.tfevents.*")) and (tmp_path / "run" / "metrics.json").is_file()


@pytest.mark.slow
def test_a_fresh_run_never_writes_into_another_runs_directory(tiny_archive, tmp_path):
    first = train_py(*TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=1)
    assert first.returncode == 0, first.stderr[-2000:]
    before = (tmp_path / "run" / "metrics.json").read_text()
    again = train_py("seed=1", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=1)  # the same hydra.run.dir
    assert again.returncode == 2
    line = again.stderr.strip().splitlines()[-1]
    assert line.startswith("error: paths.output_dir=") and "already holds a run" in line and "ckpt_path=last" in line
    assert (tmp_path / "run" / "metrics.json").read_text() == before


@pytest.mark.slow
def test_resuming_an_older_checkpoint_with_another_variant_of_the_same_shapes_is_refused(tiny_archive, tmp_path):
    """A checkpoint written before checkpoints recorded the run's config (run_config.Recorder): the command line's
    model is checked against its hyperparameters (newer ones restore the run's own model: test_resume_same_run.py)."""
    first = train_py("model=dropout", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=1)
    assert first.returncode == 0, first.stderr[-2000:]
    for ckpt in (tmp_path / "run" / "checkpoints").glob("*.ckpt"):
        if not ckpt.is_symlink():
            raw = torch.load(ckpt, weights_only=True)
            del raw["callbacks"]["RunConfig"]
            torch.save(raw, ckpt)
    again = train_py("ckpt_path=last", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=2)  # model= left out
    assert again.returncode == 2
    line = again.stderr.strip().splitlines()[-1]
    assert "trained with model variant=dropout, dropout=0.5" in line and "resume with model=dropout" in line
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["variant"] == "dropout"


@pytest.mark.slow
def test_a_refused_run_leaves_no_run_dir(tiny_archive, tmp_path):
    out = train_py("seed=-1", *TINY, tmp_path=tmp_path, archive=tiny_archive, default_run_dir=True)
    assert out.returncode == 2
    assert not list((tmp_path / "logs" / "runs").glob("*")) if (tmp_path / "logs" / "runs").exists() else True


@pytest.mark.slow
def test_the_summary_prints_a_resume_line_that_continues_in_the_same_dir(tiny_archive, tmp_path):
    first = train_py("model=dropout", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=1)
    line = next(ln for ln in first.stdout.splitlines() if ln.startswith("ckpts"))
    script, *command = line.split("(resume: python ", 1)[1].rstrip(")").split()
    assert script == str(REPO / "train.py")  # launched from tmp_path: the script's path as it works from there
    # the checkpoint records the run's settings (model=dropout, the tiny data): the command repeats none of them
    assert command == ["ckpt_path=last", f"hydra.run.dir={tmp_path / 'run'}"], command
    command.append("trainer.max_epochs=2")
    again = forked.run(
        [sys.executable, str(REPO / "train.py"), *command], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs_run"] == 2
