"""The benchmarks package (`python -m benchmarks`) end to end on a tiny generated archive (its fastest path), so it
cannot rot; its ratio rows (a floor slower than what it bounds is a broken measurement, not a ratio); the floor's
thread policy; and the docs checker on `python -m benchmarks ...` commands. Not a timing test: it only checks that
every figure of the table is there, numeric or reported broken.

The three slow benchmark runs are trees of fresh processes training on one thread (--threads=1) that need nothing
from the other tests: conftest.py starts them in the background as soon as the tests are collected (start_runs),
at a lower priority (nice 10), and runs their three tests at the end of the session. They take the core that the
rest of the suite, one test after another, leaves idle, instead of two cores of their own for ~1.5 min."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import forked
import pytest
import torch
from conftest import REPO, make_imdb_archive
from docs_check import check_command
from docs_markdown import Command, commands_in

from benchmarks.loops import child_plain
from benchmarks.table import print_table, ratio_row

SIX = ["baseline", "small", "big", "l2", "dropout", "early_stopping"]
RATIO = r"\d+\.\d+ x|broken measurement \(floor slower than [a-z' ]+\)"


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The Markdown table the benchmark prints: figure -> [value, target, result, notebook]."""
    return {
        cells[0]: cells[1:]
        for line in stdout.splitlines()
        if line.startswith("| ")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }


def tiny(tmp_path, *extra: str) -> list[str]:
    archive = make_imdb_archive(tmp_path / "tiny_aclImdb.tar.gz")
    return [f"data.archive={archive}", "data.sha256=null", "data.val_size=40", "data.batch_size=16"] + [
        "data.vocab_size=50",
        *extra,
    ]


QUICK = ["--quick", "--epochs=1", "--repeats=2", "--skip-dense", "--duties", "--epoch-ratio", "--threads=1"]
SWEEP = ["--quick", "--epochs=1", "--repeats=1", "--skip-dense", "--skip-plain", "--sweep", "--threads=1"]


TESTS = {  # the slow tests below, by the name of their run in `started`
    "quick": "test_benchmark_quick_prints_a_numeric_table",
    "plainsweep": "test_the_plain_sweep_floor_trains_what_the_sweep_trains_on_its_threads",
    "sweep": "test_benchmark_sweep_rows_with_their_floor",
}


RUNS: dict[str, subprocess.Popen] = {}  # the runs started, by name (start_runs)
NICE = 10  # below the tests in the foreground: they keep their pace, the runs take what is left


def start_runs(selected: set[str]) -> None:
    """Start `python -m benchmarks ...` for each slow test below in `selected` (test names), all at once, each a
    fresh process of its own (as the benchmark's own measurements are), its output in files."""
    if not {name for name, test in TESTS.items() if test in selected} - set(RUNS):
        return  # all started already (conftest.py): no second scratch dir
    tmp = Path(tempfile.mkdtemp(prefix="overfit_test_bench_"))
    summary_off = "trainer.enable_model_summary=false"
    threads = dict.fromkeys(SIX, 1) | {"big": 2}
    commands = {
        "quick": [*QUICK, "--variants", "baseline", "--markdown", *tiny(tmp / "quick", summary_off)],
        "plainsweep": ["--child", "plainsweep", "--epochs=3", f"--child-threads={json.dumps(threads)}"],
        "sweep": [*SWEEP, "--variants", "baseline", "--markdown", *tiny(tmp / "sweep", summary_off)],
    }
    commands["plainsweep"] += tiny(tmp / "plainsweep")
    for name, args in commands.items():
        if TESTS[name] in selected and name not in RUNS:
            with open(tmp / f"{name}.out", "w") as out, open(tmp / f"{name}.err", "w") as err:
                RUNS[name] = subprocess.Popen(
                    [sys.executable, "-m", "benchmarks", *args],
                    cwd=REPO,
                    stdout=out,
                    stderr=err,
                    preexec_fn=lambda: os.nice(NICE),
                )
            RUNS[name].files = tmp / f"{name}.out", tmp / f"{name}.err"


@pytest.fixture(scope="module")
def started(request) -> Iterator[dict[str, SimpleNamespace]]:
    """name -> wait(timeout) for its run's result; runs that conftest.py did not start yet start now."""
    start_runs({name for name in TESTS.values() if forked.selected(request, name)})

    def waiter(name: str):
        def wait(timeout: float) -> subprocess.CompletedProcess:
            proc = RUNS[name]
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            out, err = proc.files
            return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())

        return SimpleNamespace(wait=wait)

    yield {name: waiter(name) for name in RUNS}
    for proc in RUNS.values():  # a test that failed early leaves no run behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for path in {proc.files[0].parent for proc in RUNS.values()}:
        shutil.rmtree(path, ignore_errors=True)
    RUNS.clear()


def test_ratio_rows_report_a_floor_slower_than_what_it_bounds_as_broken(capsys):
    assert ratio_row("sweep / floor", [(39.0, 30.0), (40.0, 32.0), (45.0, 30.0)], "the sweep", 1.2) == (
        "sweep / floor",
        pytest.approx(1.3),  # the median of the pairs' ratios (1.3, 1.25, 1.5), not a ratio of medians
        "x",
        1.2,
    )
    broken = ratio_row("sweep / floor", [(39.7, 61.3)], "the sweep", 1.2)
    assert broken[1] == "broken measurement (floor slower than the sweep)"
    print_table([broken, ("peak RSS", 0.6, "GB", 2.0), ("epochs", 1.5, "x", 1.4)], "caption", markdown=True)
    rows = table_rows(capsys.readouterr().out)
    assert rows["sweep / floor"][:3] == ["broken measurement (floor slower than the sweep)", "<= 1.20 x", "broken"]
    assert rows["peak RSS"][:3] == ["0.60 GB", "<= 2.00 GB", "pass"]
    assert rows["epochs"][:3] == ["1.50 x", "<= 1.40 x", "FAIL"]


def test_the_plain_loop_follows_the_runs_thread_policy_and_restores_torchs(tmp_path):
    """As train() does: the count for this model under cpu_threads (or the count the compared run got), and
    torch's own setting back after the run, so that the next run of a floor starts where train() would."""
    overrides = tiny(tmp_path, f"paths.data_dir={tmp_path / 'data'}")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = child_plain([*overrides, "cpu_threads=3"], 1)
        assert got["threads"] == 3 and torch.get_num_threads() == 2
        got = child_plain([*overrides, "cpu_threads=auto"], 1, duties=True, threads=1)  # the run beside it got 1
        assert got["threads"] == 1 and torch.get_num_threads() == 2
        assert child_plain([*overrides, "cpu_threads=auto"], 1)["threads"] == 1  # auto: a small model, one thread
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_benchmark_quick_prints_a_numeric_table(started):
    result = started["quick"].wait(timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = table_rows(result.stdout)
    epochs = "Lightning epoch / plain epoch with duties, baseline, fastest of 4 each"
    ratios = ["Lightning fit / plain loop, baseline", "Lightning fit / plain loop with duties, baseline", epochs]
    ratios += ["the same at the 25th percentile", "the same, medians"]
    for figure in [
        "archive -> features, cold",
        "archive -> features, warm (cached)",
        "peak RSS, whole train.py run",
        "train baseline, 1 epochs (train.py, median of 2)",
        "fastest of the 2",
        "slowest of the 2",
        "test accuracy baseline",
        *ratios,
    ]:
        assert figure in rows, f"{figure!r} missing from:\n{result.stdout}"
        pattern = RATIO if figure in ratios else r"\d+\.\d+( s| GB)?"
        assert re.fullmatch(pattern, rows[figure][0]), (figure, rows[figure])
    assert rows[epochs][1:3] in (["<= 1.40 x", "pass"], ["<= 1.40 x", "FAIL"], ["<= 1.40 x", "broken"])
    assert rows["peak RSS, whole train.py run"][1:3] in (["<= 2.00 GB", "pass"], ["<= 2.00 GB", "FAIL"])
    if not torch.cuda.is_available():  # absolute targets in seconds: only on a GPU
        assert rows["archive -> features, cold"][1] == rows["train baseline, 1 epochs (train.py, median of 2)"][1] == ""
    assert 0.0 <= float(rows["test accuracy baseline"][0]) <= 1.0
    seconds = {k: float(rows[k][0].split()[0]) for k in ("fastest of the 2", "slowest of the 2")}
    assert (
        seconds["fastest of the 2"]
        <= float(rows["train baseline, 1 epochs (train.py, median of 2)"][0].split()[0])
        <= seconds["slowest of the 2"]
    )


@pytest.mark.slow
def test_the_plain_sweep_floor_trains_what_the_sweep_trains_on_its_threads(started):
    """The plainsweep child: the six variants as plain loops in one process, each training every epoch asked for
    (early_stopping may stop sooner, as train.py's EarlyStopping would), test included, each on the thread
    count the sweep's run of that variant got."""
    threads = dict.fromkeys(SIX, 1) | {"big": 2}  # as asked in `started`
    result = started["plainsweep"].wait(timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(got["epochs"]) == sorted(SIX)
    assert {v: n for v, n in got["epochs"].items() if v != "early_stopping"} == dict.fromkeys(SIX[:5], 3)
    assert got["threads"] == threads
    assert 0 < got["fits_s"] < got["wall_s"] and 0 < got["imports_s"] < got["wall_s"]


@pytest.mark.slow
def test_benchmark_sweep_rows_with_their_floor(started):
    """--sweep: the six-variant sweep both ways (one process, joblib) and the plain-PyTorch floor, with the ratio."""
    result = started["sweep"].wait(timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = table_rows(result.stdout)
    sweeps = [
        "six-variant sweep, one process, one run after another (whole process, median)",
        "six-variant sweep, joblib, 2 jobs x 1 thread (whole process, median)",
        "the six as plain PyTorch loops with duties, one process (the floor, median)",
        # timed apart: the sweeps above run without it, as the floor compares nothing
        "the comparison a sweep ends with (scripts/compare.py on the six runs, whole process)",
    ]
    ratio = "sweep in one process / the floor, same minutes (Lightning's and Hydra's share)"
    for figure in sweeps + [ratio]:
        assert figure in rows, f"{figure!r} missing from:\n{result.stdout}"
        assert re.fullmatch(RATIO if figure == ratio else r"\d+\.\d+ s", rows[figure][0]), (figure, rows[figure])
    wall = {f: float(rows[f][0].split()[0]) for f in sweeps[:3]}
    assert rows[ratio][1] == "<= 1.20 x"
    if rows[ratio][2] == "broken":  # a loaded machine can do that; the row must then say so, not give a ratio
        assert wall[sweeps[0]] < wall[sweeps[2]]
    else:
        value = float(rows[ratio][0].split()[0])
        assert abs(value - wall[sweeps[0]] / wall[sweeps[2]]) < 0.02 * value  # one repeat: the rows' ratio
    # the floor trained on the very threads the sweep's runs got, both printed on the way
    sweep_threads = re.search(r"sweep, one process.*threads (\{.*?\})", result.stdout).group(1)
    floor_threads = re.search(r"the six as plain loops:.*threads (\{.*?\})", result.stdout).group(1)
    assert json.loads(sweep_threads) == json.loads(floor_threads) == dict.fromkeys(SIX, 1)  # --threads=1


@pytest.mark.parametrize(
    "text",
    [
        "python -m benchmarks --quick --skip-dense data.batch_size=256",
        "python -m benchmarks threads --variant baseline --epochs 5",
        "python -m benchmarks factorization --steps 2000 --repeats 5",
        "python -m benchmarks gpu-check --archive aclImdb_v1_labeled.tar.gz --no-gpu",
    ],
)
def test_docs_checker_accepts_the_benchmarks_entry_point(text):
    ((script, args),) = commands_in(text)
    assert script == "-m benchmarks"
    check_command(Command(REPO / "docs/speed.md", 1, text, script, args))


@pytest.mark.parametrize(
    "text, why",
    [
        ("python -m benchmarks --quick trainer.max_epoch=2", "trainer.max_epoch"),
        ("python -m benchmarks --quik", "unrecognized arguments: --quik"),
        ("python -m benchmarks threads --variants big", "unrecognized arguments: --variants"),
        ("python -m benchmarks factorization --stpes 5", "unrecognized arguments: --stpes"),
        ("python -m benchmarks gpu-check", "--archive"),
        ("python -m benchmarks.nope --quick", "does not exist"),
    ],
)
def test_docs_checker_catches_rot_in_benchmarks_commands(text, why):
    ((script, args),) = commands_in(text)
    with pytest.raises(pytest.fail.Exception) as failed:
        check_command(Command(REPO / "docs/speed.md", 1, text, script, args))
    assert why in str(failed.value), str(failed.value)


def test_only_this_repositorys_modules_are_commands():
    assert commands_in(".venv/bin/python -m pytest -q && python -m venv .venv") == []
    assert commands_in("python -m benchmarks --sweep x=1 | tee out") == [("-m benchmarks", ("--sweep", "x=1"))]
