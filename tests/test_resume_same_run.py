"""A resume is the same run: its settings come from the checkpoint (checkpoints/run_config.py), not from the command.

One killed `model=dropout seed=3` run, resumed four ways: by the interrupt hint pasted as printed, from a copy of its
checkpoint alone (no override at all), with a setting that contradicts it (refused), and extended (allowed,
recorded). Every finished resume must give the uninterrupted run's metrics.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

import forked
import pytest
import yaml
from conftest import REPO
from test_faults_runs import TINY, metrics, train_py

RUN = ("model=dropout", "seed=3", *TINY)


@pytest.fixture(scope="module")
def straight(tiny_archive, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("straight_s3")
    out = train_py(*RUN, tmp_path=tmp, archive=tiny_archive)
    assert out.returncode == 0, out.stderr[-2000:]
    return metrics(tmp / "run")


def kill(archive, tmp) -> str:
    """The run stopped by SIGTERM in epoch 2 (epoch_002.ckpt written) in <tmp>/run; its stderr's last line."""
    out = train_py(*RUN, tmp_path=tmp, archive=archive, fault="sigterm:2")
    assert out.returncode == 143, out.stderr[-2000:]
    return out.stderr.strip().splitlines()[-1]


@pytest.fixture
def killed(tiny_archive, tmp_path):
    """A killed run of this test's own, in tmp_path/run, for the tests that resume it."""
    return kill(tiny_archive, tmp_path)


@pytest.fixture(scope="module")
def killed_once(tiny_archive, tmp_path_factory):
    """One killed run for the refused resumes, in <tmp>/run, and a copy of it as it was killed."""
    tmp = tmp_path_factory.mktemp("killed")
    kill(tiny_archive, tmp)
    shutil.copytree(tmp / "run", tmp / "as_killed", symlinks=True)
    return tmp


@pytest.fixture
def killed_shared(killed_once):
    """killed_once's run as it was killed, whatever a resume wrongly accepted by an earlier test did to it: the same
    dir (the paths its checkpoints recorded), so that a test fails for its own setting only."""
    shutil.rmtree(killed_once / "run")
    shutil.copytree(killed_once / "as_killed", killed_once / "run", symlinks=True)
    return killed_once


def pasted(command: str, cwd):
    return forked.run(shlex.split(command), cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_interrupt_hint_pasted_as_printed_resumes_exactly(straight, killed, tmp_path):
    assert f"python {REPO / 'train.py'} ckpt_path=last hydra.run.dir=" in killed, killed  # launched from elsewhere
    command = killed.split("with: ", 1)[1].replace("python ", f"{sys.executable} ", 1)
    again = pasted(command, tmp_path)  # as printed, from where the killed run was launched
    assert again.returncode == 0, again.stderr[-2000:]
    record = metrics(tmp_path / "run")
    assert record["seed"] == 3 and record["variant"] == "dropout"
    assert record["metrics"]["test/loss"] == straight["metrics"]["test/loss"]  # bit for bit
    assert record["metrics"]["val/acc"] == straight["metrics"]["val/acc"]
    assert "== overfit: dropout (seed 3) ==" in again.stdout
    # Hydra rewrote .hydra/ with the resume's command; the run's own record is back
    overrides = yaml.safe_load((tmp_path / "run" / ".hydra" / "overrides.yaml").read_text())
    assert "seed=3" in overrides and "model=dropout" in overrides, overrides
    config = yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())
    assert config["seed"] == 3 and config["model"]["variant"] == "dropout"


@pytest.mark.slow
def test_a_checkpoint_alone_resumes_the_run_it_comes_from(straight, killed, tmp_path):
    kept = tmp_path / "kept" / "epoch_002.ckpt"
    kept.parent.mkdir()
    shutil.copy(tmp_path / "run" / "checkpoints" / "epoch_002.ckpt", kept)
    again = forked.run(
        [sys.executable, str(REPO / "train.py"), f"ckpt_path={kept}"],
        cwd=tmp_path,
        env={**os.environ, "OVERFIT_ROOT": str(tmp_path)},  # its default logs/, not the tests' shared root
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    (new,) = (tmp_path / "logs" / "runs").iterdir()  # named after the run, not this command's baseline_s0
    assert new.name.endswith("_dropout_s3"), new.name
    record = metrics(new)
    assert record["seed"] == 3 and record["epochs_run"] == 3
    assert record["metrics"]["test/loss"] == straight["metrics"]["test/loss"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "override,says",
    [
        ("seed=4", "seed=4: the run was started with seed=3"),
        ("model=baseline", "model=baseline: the run was started with model=dropout"),
        ("model.optimizer.lr=0.5", "model.optimizer.lr=0.5: the run was started with model.optimizer.lr=0.001"),
    ],
)
def test_a_setting_that_contradicts_the_run_is_refused_in_one_line(override, says, killed_shared, tiny_archive):
    tmp_path = killed_shared
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    out = train_py("ckpt_path=last", override, tmp_path=tmp_path, archive=tiny_archive)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {says}") and "drop that override" in line, line
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ckpts
    assert not (tmp_path / "run" / "metrics.json").exists()
    # the refused command did not overwrite the run's record either
    assert "seed=3" in yaml.safe_load((tmp_path / "run" / ".hydra" / "overrides.yaml").read_text())


@pytest.mark.slow
def test_extending_a_run_is_allowed_and_recorded(killed, tiny_archive, tmp_path):
    out = train_py("ckpt_path=last", "seed=3", tmp_path=tmp_path, archive=tiny_archive, epochs=4)
    assert out.returncode == 0, out.stderr[-2000:]
    record = metrics(tmp_path / "run")
    assert record["epochs_run"] == 4 and record["seed"] == 3 and record["variant"] == "dropout"
    overrides = yaml.safe_load((tmp_path / "run" / ".hydra" / "overrides.yaml").read_text())
    assert "trainer.max_epochs=4" in overrides and "trainer.max_epochs=3" not in overrides, overrides
    assert "seed=3" in overrides and "model=dropout" in overrides
