"""scripts/benchmark.py end to end on a tiny generated archive (its fastest path), so the script cannot rot.
Not a timing test: it only checks that every figure of the table is there and numeric."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import REPO, make_imdb_archive


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The Markdown table benchmark.py prints: figure -> [value, target, result, notebook]."""
    return {
        cells[0]: cells[1:]
        for line in stdout.splitlines()
        if line.startswith("| ")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }


def test_benchmark_quick_prints_a_numeric_table(tmp_path):
    archive = make_imdb_archive(tmp_path / "tiny_aclImdb.tar.gz")
    tiny = [
        f"data.archive={archive}",
        "data.sha256=null",
        "data.val_size=40",
        "data.batch_size=16",
        "data.vocab_size=50",
        "trainer.enable_model_summary=false",
    ]
    args = [
        "--quick",
        "--epochs=1",
        "--repeats=2",
        "--skip-dense",
        "--duties",
        "--epoch-ratio",
        "--threads=1",
        "--variants",
        "baseline",
        "--markdown",
    ]
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", *args, *tiny], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = table_rows(result.stdout)
    for figure in [
        "archive -> features, cold",
        "archive -> features, warm (cached)",
        "peak RSS, whole train.py run",
        "train baseline, 1 epochs (train.py, median of 2)",
        "fastest of the 2",
        "slowest of the 2",
        "test accuracy baseline",
        "Lightning fit / plain loop, baseline",
        "Lightning fit / plain loop with duties, baseline",
        "Lightning epoch / plain epoch, baseline, fastest of 4 each",
        "the same at the 25th percentile",
        "the same, medians",
    ]:
        assert figure in rows, f"{figure!r} missing from:\n{result.stdout}"
        assert re.fullmatch(r"\d+\.\d+( s| GB| x)?", rows[figure][0]), (figure, rows[figure])
    assert rows["peak RSS, whole train.py run"][2] in ("pass", "FAIL")
    assert 0.0 <= float(rows["test accuracy baseline"][0]) <= 1.0
    seconds = {k: float(rows[k][0].split()[0]) for k in ("fastest of the 2", "slowest of the 2")}
    assert (
        seconds["fastest of the 2"]
        <= float(rows["train baseline, 1 epochs (train.py, median of 2)"][0].split()[0])
        <= seconds["slowest of the 2"]
    )


def test_the_plain_sweep_floor_trains_what_the_sweep_trains(tmp_path):
    """bench_overhead's plainsweep child: the six variants as plain loops in one process, each training every epoch
    asked for (early_stopping may stop sooner, as train.py's EarlyStopping would), test included."""
    archive = make_imdb_archive(tmp_path / "tiny_aclImdb.tar.gz")
    tiny = [f"data.archive={archive}", "data.sha256=null", "data.val_size=40", "data.batch_size=16"]
    tiny += ["data.vocab_size=50", f"paths.data_dir={tmp_path / 'data'}"]
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--child", "plainsweep", "--epochs=3", *tiny],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(got["epochs"]) == sorted(["baseline", "small", "big", "l2", "dropout", "early_stopping"])
    assert {v: n for v, n in got["epochs"].items() if v != "early_stopping"} == dict.fromkeys(
        ["baseline", "small", "big", "l2", "dropout"], 3
    )
    assert 0 < got["fits_s"] < got["wall_s"] and 0 < got["imports_s"] < got["wall_s"]


def test_benchmark_sweep_rows_with_their_floor(tmp_path):
    """--sweep: the six-variant sweep both ways (one process, joblib) and the plain-PyTorch floor, with the ratio."""
    archive = make_imdb_archive(tmp_path / "tiny_aclImdb.tar.gz")
    tiny = [f"data.archive={archive}", "data.sha256=null", "data.val_size=40", "data.batch_size=16"]
    tiny += ["data.vocab_size=50", "trainer.enable_model_summary=false"]
    args = ["--quick", "--epochs=1", "--repeats=1", "--skip-dense", "--skip-plain", "--sweep", "--threads=1"]
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", *args, "--variants", "baseline", "--markdown", *tiny],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = table_rows(result.stdout)
    sweeps = [
        "six-variant sweep, one process, one run after another (whole process, median)",
        "six-variant sweep, joblib, 2 jobs x 1 thread (whole process, median)",
        "the six as plain PyTorch loops with duties, one process (the floor, median)",
    ]
    for figure in sweeps + ["sweep in one process / the floor (Lightning's and Hydra's share)"]:
        assert figure in rows, f"{figure!r} missing from:\n{result.stdout}"
        assert re.fullmatch(r"\d+\.\d+( s| x)", rows[figure][0]), (figure, rows[figure])
    wall = {f: float(rows[f][0].split()[0]) for f in sweeps}
    ratio = float(rows["sweep in one process / the floor (Lightning's and Hydra's share)"][0].split()[0])
    assert abs(ratio - wall[sweeps[0]] / wall[sweeps[2]]) < 0.02 * ratio  # the ratio of the two rows above it
    assert rows[sweeps[0]][2] in ("pass", "FAIL")  # against the 25 s target, scaled to the epochs
