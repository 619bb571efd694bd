"""One place for things: wherever a command is launched from, runs go to the project's logs/ and the data cache
in its data/ is found, not rebuilt (the project root = the directory holding conf/; conf/paths/default.yaml).

A copy of the project's entry point and conf/ in a temp dir stands in for a checkout, so nothing here writes into
this one."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import forked
import pytest
from conftest import REPO

import overfit

pytestmark = pytest.mark.slow

TINY = ["data.sha256=null", "data.val_size=40", "data.batch_size=16", "data.vocab_size=50", "trainer.max_epochs=1"]
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "temperature_scaling=false"]


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "train.py", root / "train.py")
    shutil.copytree(REPO / "conf", root / "conf")
    return root


def env_without_root() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OVERFIT_ROOT", "OVERFIT_DATA_DIR")}


def train_from(cwd: Path, project: Path, archive: Path, *args: str):
    cwd.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(project / "train.py"), f"data.archive={archive}", *TINY, *QUIET, *args]
    done = forked.run(cmd, cwd=cwd, env=env_without_root(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def features(project: Path) -> list[Path]:
    return sorted((project / "data" / "cache").glob("*/features.npz"))


def test_runs_from_elsewhere_use_the_projects_logs_and_cache(project, tiny_archive, tmp_path):
    train_from(tmp_path / "a", project, tiny_archive)
    (cache,) = features(project)  # built once, in the project's data/
    built = cache.stat().st_mtime_ns
    done = train_from(tmp_path / "b" / "deeper", project, tiny_archive, "seed=1")
    assert features(project) == [cache] and cache.stat().st_mtime_ns == built  # found, not rebuilt
    runs = sorted(p.name for p in (project / "logs" / "runs").iterdir())
    assert len(runs) == 2 and runs[1].endswith("_baseline_s1"), runs
    assert str(project / "logs" / "runs") in done.stdout  # the summary names where it went
    for elsewhere in (tmp_path / "a", tmp_path / "b"):  # nothing where the commands were launched
        assert not [p for p in elsewhere.rglob("*") if p.is_file()], list(elsewhere.rglob("*"))


def test_paths_given_on_the_command_line_stay_relative_to_where_you_stand(project, tiny_archive, tmp_path):
    train_from(tmp_path / "here", project, tiny_archive, "paths.log_dir=mine")
    assert len(list((tmp_path / "here" / "mine" / "runs").iterdir())) == 1
    assert not (project / "logs" / "runs").exists()


def test_overfit_run_uses_the_project_of_its_conf(project, tiny_archive, tmp_path, monkeypatch):
    for key in ("OVERFIT_ROOT", "OVERFIT_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "nb").mkdir()
    monkeypatch.chdir(tmp_path / "nb")
    run = overfit.run(f"data.archive={tiny_archive}", *TINY, *QUIET, config_dir=project / "conf")
    assert run.dir.parent == (project / "logs" / "runs").resolve()
    assert len(features(project)) == 1
    assert "OVERFIT_ROOT" not in os.environ  # set for the call only
    assert not list((tmp_path / "nb").iterdir())
