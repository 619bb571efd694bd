"""overfit.run / overfit.compare_runs (src/overfit/api.py) against `python train.py` and `python scripts/compare.py`
on a tiny generated archive: same run dir name and files, same metrics.json, same one-line errors, same tables."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import forked
import pytest
import torch
import yaml
from conftest import REPO, tiny_overrides
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

import overfit
from overfit.errors import OverfitError

# conf/hydra/default.yaml's run.dir: <time>_<variant>_s<seed>, and -1, -2, ... when another run claimed the name
RUN_NAME = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_(\w+)_s(\d+)(-\d+)?$")
TIMED = ("wall_s", "time/train_s", "train_s")  # differ between any two runs


def shrunk(archive: Path, tmp_path: Path, log_dir: str, epochs: int = 2) -> list[str]:
    """conftest.tiny_overrides without its paths.output_dir: the run dir is named by conf/hydra as with the CLI."""
    tiny = [
        o for o in tiny_overrides(archive, tmp_path, epochs) if not o.startswith(("paths.output_dir", "paths.log_dir"))
    ]
    return tiny + [f"paths.log_dir={tmp_path / log_dir}"]


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    """`python <args>` in a child forked from a process that imported torch and co. once (tests/forked.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERFIT_")}
    return forked.run([sys.executable, *map(str, args)], cwd=cwd, env=env, timeout=300)


def only_run_dir(log_dir: Path) -> Path:
    runs = sorted((log_dir / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def files(run_dir: Path) -> set[str]:
    """The run dir's files, event files by kind only (their names hold the time, host and pid)."""
    return {
        re.sub(r"^events\.out\.tfevents\..*$", "events.out.tfevents.*", str(p.relative_to(run_dir)))
        for p in run_dir.rglob("*")
        if p.is_file()
    }


@pytest.mark.slow
def test_run_is_train_py(tiny_archive, tmp_path, monkeypatch):
    """Same overrides and seed: the CLI's dir name, files, metrics.json, .hydra/ configs and curves."""
    monkeypatch.chdir(tmp_path)
    common = ["model=dropout", "seed=1"]
    done = cli(REPO / "train.py", *shrunk(tiny_archive, tmp_path, "cli"), *common, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout + done.stderr
    noise = [n for n in ("💡 Tip:", "LeafSpec", "overridden `transfer_batch_to_device`") if n in said]
    assert not noise, noise  # overfit.runs.console: Lightning's lines that nobody running train.py can act on
    threads, cwd, root_handlers = torch.get_num_threads(), os.getcwd(), list(logging.getLogger().handlers)

    run = overfit.run(*shrunk(tiny_archive, tmp_path, "api"), *common)

    assert (os.getcwd(), torch.get_num_threads()) == (cwd, threads)
    assert logging.getLogger().handlers == root_handlers  # Hydra's console + train.log handlers are gone again
    assert not GlobalHydra.instance().is_initialized() and not HydraConfig.initialized()
    ours, theirs = run.dir, only_run_dir(tmp_path / "cli")
    assert ours.parent == tmp_path / "api" / "runs"
    assert RUN_NAME.match(ours.name).groups()[:2] == RUN_NAME.match(theirs.name).groups()[:2] == ("dropout", "1")
    assert files(ours) == files(theirs)
    assert {".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "train.log", "metrics.json"} <= files(
        ours
    )
    assert {"checkpoints/last.ckpt", "checkpoints/epoch_002.ckpt", "events.out.tfevents.*"} <= files(ours)

    record = json.loads((ours / "metrics.json").read_text())
    cli_record = json.loads((theirs / "metrics.json").read_text())
    for rec in (record, cli_record):
        rec.pop("wall_s")
        rec["metrics"].pop("time/train_s")
    assert record == cli_record  # same seed, same config: the same numbers, not merely close ones
    assert record["variant"] == run.variant == "dropout" and record["seed"] == run.seed == 1
    assert run.metrics.keys() >= {"test/acc", "val/acc_best"} and run.record["epochs_run"] == 2
    assert {k: v for k, v in run.metrics.items() if k not in TIMED} == record["metrics"]
    assert run.result == record["metrics"]["val/acc_best"] == record["best_val_acc"]
    assert run.config.paths.output_dir == str(ours) and run.config.model.dropout == 0.5

    def hydra_files(run_dir: Path, log_dir: str) -> dict:
        text = {p: (run_dir / ".hydra" / p).read_text() for p in ("config.yaml", "overrides.yaml", "hydra.yaml")}
        plain = {p: t.replace(str(tmp_path / log_dir), "LOGS").replace(run_dir.name, "RUN") for p, t in text.items()}
        return {p: yaml.safe_load(t) for p, t in plain.items()}

    assert hydra_files(ours, "api") == hydra_files(theirs, "cli")  # hydra.yaml: mode, job name, run dir, choices, ...

    # the TensorBoard curves, as compare reads them: the same epochs and values
    ours_row, theirs_row = (overfit.compare_runs(d)["runs"][0] for d in (ours, theirs))
    assert {k: v for k, v in ours_row.items() if k not in TIMED} == {
        k: v for k, v in theirs_row.items() if k not in TIMED
    }


def test_two_calls_two_dirs(tiny_archive, tmp_path):
    """unique_dir claims once per process and name: run() makes each call claim its own directory."""
    overrides = shrunk(tiny_archive, tmp_path, "logs", epochs=1)
    first, second = overfit.run(*overrides), overfit.run(*overrides)
    assert first.dir != second.dir and first.dir.parent == second.dir.parent == tmp_path / "logs" / "runs"
    for run in (first, second):
        assert RUN_NAME.match(run.dir.name) and (run.dir / "metrics.json").is_file()
        assert json.loads((run.dir / "metrics.json").read_text())["metrics"]["test/acc"] == run.metrics["test/acc"]
    if first.dir.name[:19] == second.dir.name[:19]:  # started in the same second: the next free suffix
        assert RUN_NAME.match(first.dir.name).group(3) is None and second.dir.name == first.dir.name + "-1"
    assert {k: v for k, v in first.metrics.items() if k not in TIMED} == {
        k: v for k, v in second.metrics.items() if k not in TIMED
    }
    assert sorted(p.name for p in (tmp_path / "logs" / "runs").iterdir()) == sorted([first.dir.name, second.dir.name])


@pytest.mark.parametrize(
    "override,expected",
    [
        ("modle=dropout", "Could not override 'modle'"),
        ("model=nope", "Could not find 'model/nope'"),
        ("seed=0,1", "Ambiguous value for argument 'seed=0,1'"),
        ("experiment=regularization", "experiment=regularization is a sweep"),
        ("-m", "overfit.run() runs one job"),
        ("trainer=ddp", "trainer.strategy=ddp"),
    ],
)
def test_bad_overrides_are_one_line_errors(tiny_archive, tmp_path, override, expected):
    with pytest.raises(OverfitError) as err:
        overfit.run(*shrunk(tiny_archive, tmp_path, "logs"), override)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "logs" / "runs").exists() or not list((tmp_path / "logs" / "runs").iterdir())
    assert not GlobalHydra.instance().is_initialized()


@pytest.mark.slow
def test_refused_run_raises_the_cli_error_and_leaves_no_dir(tiny_archive, tmp_path, monkeypatch):
    too_many = "data.train_size=100000"  # more than the archive holds: refused after reading it
    # As in train.py: Lightning, imported while the root logger had no handler, keeps its records to itself, so
    # a refused run's train.log stays empty. Under pytest the root has handlers at that import (records propagate).
    for name in ("lightning.fabric", "lightning.pytorch"):
        monkeypatch.setattr(logging.getLogger(name), "propagate", False)
    root_handlers = list(logging.getLogger().handlers)
    done = cli(REPO / "train.py", *shrunk(tiny_archive, tmp_path, "cli"), too_many, cwd=tmp_path)
    assert done.returncode == 2
    cli_error = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    with pytest.raises(OverfitError) as err:
        overfit.run(*shrunk(tiny_archive, tmp_path, "api"), too_many)
    assert cli_error == [f"error: {err.value}"] and "data.train_size=100000" in str(err.value)
    for side in ("cli", "api"):  # a refused run leaves no directory behind (cli.drop_empty_run_dir)
        assert list((tmp_path / side / "runs").iterdir()) == []
    assert not HydraConfig.initialized() and logging.getLogger().handlers == root_handlers


def test_missing_config_dir_is_a_clear_error(tmp_path):
    with pytest.raises(OverfitError, match=r"no train\.yaml in .*config_dir="):
        overfit.run("model=baseline", config_dir=tmp_path)
    assert overfit.config_dir() == REPO / "conf"


def _cell(value) -> str:
    """A value as scripts/compare.py's CSVs write it (per-run rows raw, pooled rows through _csv_value)."""
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _same(api_value, csv_value: str) -> bool:
    if isinstance(api_value, float) and math.isfinite(api_value):
        return float(csv_value) == pytest.approx(api_value, rel=1e-12)
    return _cell(api_value) == csv_value or (csv_value == "nan" and _cell(api_value) == "")


@pytest.mark.slow
def test_compare_runs_is_scripts_compare_and_pools_known_runs(tiny_archive, tmp_path):
    overrides = shrunk(tiny_archive, tmp_path, "logs", epochs=2)
    trained = {
        (variant, seed): overfit.run(*overrides, f"model={variant}", f"seed={seed}")
        for variant in ("baseline", "dropout")
        for seed in (0, 1)
    }
    tables = overfit.compare_runs(tmp_path / "logs")
    assert set(tables) == {"runs", "pooled", "warnings"} and tables["warnings"] == []

    done = cli(REPO / "scripts" / "compare.py", tmp_path / "logs", "--out", tmp_path / "cmp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, rows in (("comparison.csv", tables["runs"]), ("pooled.csv", tables["pooled"])):
        with open(tmp_path / "cmp" / name, newline="") as f:
            written = list(csv.DictReader(f))
        assert len(written) == len(rows) == (4 if name == "comparison.csv" else 2)
        for row, line in zip(rows, written):
            assert set(row) == set(line), name
            differ = {k: (row[k], line[k]) for k in row if not _same(row[k], line[k])}
            assert not differ, (name, differ)
    assert not (tmp_path / "logs" / "comparison").exists()  # compare_runs writes nothing

    # pooled by hand from the runs' own metrics.json: n, seeds, means, the 95% t-interval, the paired difference
    by_variant = {row["variant"]: row for row in tables["pooled"]}
    assert list(by_variant) == ["baseline", "dropout"]
    acc = {key: run.metrics["test/acc"] for key, run in trained.items()}
    for variant, row in by_variant.items():
        values = [acc[variant, 0], acc[variant, 1]]
        assert (row["n"], row["seeds"]) == (2, [0, 1])
        assert row["test_acc_mean"] == pytest.approx(statistics.mean(values), abs=1e-7)
        assert row["test_acc_ci95"] == pytest.approx(12.706204736 * statistics.stdev(values) / math.sqrt(2), abs=1e-6)
    diffs = [acc["dropout", s] - acc["baseline", s] for s in (0, 1)]
    assert by_variant["dropout"]["test_acc_diff_mean"] == pytest.approx(statistics.mean(diffs), abs=1e-7)
    assert (by_variant["dropout"]["n_paired"], by_variant["dropout"]["paired_seeds"]) == (2, [0, 1])
    assert by_variant["baseline"]["n_paired"] == 0 and math.isnan(by_variant["baseline"]["test_acc_diff_mean"])
    per_run = {(r["variant"], r["seed"]): r for r in tables["runs"]}
    assert set(per_run) == set(trained)
    for key, run in trained.items():
        assert per_run[key]["test_acc"] == pytest.approx(run.metrics["test/acc"], abs=1e-7)
        assert per_run[key]["epochs"] == 2


def test_compare_runs_on_nothing_is_the_scripts_error(tmp_path):
    with pytest.raises(OverfitError, match="no TensorBoard runs found"):
        overfit.compare_runs(tmp_path)
