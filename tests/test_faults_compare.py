"""compare.py on damaged runs: a truncated event file, garbage appended, a corrupted CRC, an empty event file,
a crashed run (no HPARAMS summary), a run without test metrics, a dir without runs. Each is named, with its
file and what could not be read, on stderr, in the returned data, in warnings.txt and in the table row;
nothing usable at all is a one-line error (exit code 2).

TensorBoard's own readers stop at the first bad record without a word, so a damaged file used to read as a
shorter, valid-looking run."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import struct
from pathlib import Path

import pytest
from conftest import REPO, compose_train, tiny_overrides
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from overfit.compare import load_runs, pool_runs, read_records, write_comparison
from overfit.errors import OverfitError
from overfit.train import train

spec = importlib.util.spec_from_file_location("compare_script", REPO / "scripts" / "compare.py")
compare_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_script)


@pytest.fixture(scope="module")
def clean(tiny_archive, tmp_path_factory) -> Path:
    """Two finished baseline runs (seeds 0, 1; 3 epochs), laid out as a sweep dir."""
    tmp = tmp_path_factory.mktemp("faults")
    for seed in (0, 1):
        out = tmp / "sweep" / f"{seed}_baseline"
        train(
            compose_train(
                tiny_overrides(tiny_archive, tmp, epochs=3)
                + ["model=baseline", f"seed={seed}", f"paths.output_dir={out}"]
            )
        )
    return tmp / "sweep"


@pytest.fixture
def sweep(clean, tmp_path) -> Path:
    """A copy of the clean sweep to damage."""
    return Path(shutil.copytree(clean, tmp_path / "sweep"))


def file_with(run: Path, tag: str) -> Path:
    """The event file of `run` that holds `tag` (curves, test metrics, HPARAMS go to 3 files, in the run dir)."""
    for path in sorted(run.glob("events.out.tfevents.*")):
        if any(v.tag == tag for e in EventFileLoader(str(path)).Load() for v in e.summary.value):
            return path
    raise AssertionError(f"no {tag} in {run}")


def offsets(path: Path) -> list[tuple[int, int]]:
    """(offset, data length) of every record, read without checking anything."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        out.append((pos, length))
        pos += 12 + length + 4
    return out


def compare(root: Path, capsys, *extra: str) -> tuple[int, str, str]:
    rc = compare_script.main([str(root), "--out", str(root / "cmp"), *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def row_of(root: Path, run: str) -> dict:
    return next(r for r in csv.DictReader(open(root / "cmp" / "comparison.csv")) if r["run"] == run)


def assert_reported(root: Path, path: Path, what: str, err: str, out: str, run: str, marker: str):
    """`path` and `what` named on stderr, in warnings.txt and comparison.md; the run's row flagged with `marker`."""
    line = next((ln for ln in err.splitlines() if str(path) in ln and what in ln), None)
    assert line and line.startswith("warning: "), err
    assert line.removeprefix("warning: ") in (root / "cmp" / "warnings.txt").read_text().splitlines()
    table = (root / "cmp" / "comparison.md").read_text()
    assert any(ln.startswith(f"| {run} |") and marker in ln for ln in table.splitlines()), table
    assert str(path) in table and "warning(s)" in out
    assert marker in row_of(root, run)["problems"]


@pytest.mark.slow
def test_clean_runs_have_no_warnings(sweep, capsys):
    rc, out, err = compare(sweep, capsys)
    assert rc == 0 and err == "" and "warning" not in out, err
    assert not (sweep / "cmp" / "warnings.txt").exists()
    assert all(not r.problems for r in load_runs(sweep))
    assert row_of(sweep, "baseline seed 0")["epochs"] == "3"


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_truncated_mid_record(sweep, capsys):
    path = file_with(sweep / "0_baseline", "val/loss")
    records = offsets(path)
    cut = records[len(records) // 2][0] + 20  # inside a record's data
    path.write_bytes(path.read_bytes()[:cut])
    runs = load_runs(sweep)
    assert any(str(path) in w and "truncated mid-record" in w for w in runs.warnings), runs.warnings
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    assert_reported(sweep, path, "truncated mid-record", err, out, "baseline seed 0", "event file truncated")
    assert int(row_of(sweep, "baseline seed 0")["epochs"]) < 3  # what was read before the cut is still shown
    assert row_of(sweep, "baseline seed 1")["problems"] == ""


def test_garbage_appended(sweep, clean, capsys):
    path = file_with(sweep / "1_baseline", "_hparams_/session_start_info")
    path.write_bytes(path.read_bytes() + b"\x17garbage appended by a crashed copy\xff" * 4)
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    assert_reported(sweep, path, "could not be read", err, out, "baseline seed 1", "unreadable bytes")
    assert "garbage appended" in err
    # every record before the garbage was read: the same numbers as the clean run
    damaged, intact = row_of(sweep, "baseline seed 1"), next(r.row() for r in load_runs(clean) if r.seed == 1)
    assert float(damaged["test_acc"]) == pytest.approx(intact["test_acc"]) and damaged["epochs"] == "3"
    pooled = pool_runs(load_runs(sweep))
    assert pooled[0]["n"] == 2 and "pools runs with problems: baseline seed 1" in pooled[0]["problems"]
    assert "pools runs with problems" in (sweep / "cmp" / "pooled.md").read_text()


def test_corrupted_data_crc_skips_one_record(sweep, capsys):
    path = file_with(sweep / "0_baseline", "val/loss")
    offset, length = offsets(path)[2]  # val/acc of the first epoch (epochs are counted on train/loss)
    data = bytearray(path.read_bytes())
    data[offset + 12 + length // 2] ^= 0xFF  # one flipped byte in the record's data
    path.write_bytes(bytes(data))
    records, problems = read_records(path)
    assert len(records) == len(offsets(path)) - 1 and len(problems) == 1
    assert f"the record at byte {offset}" in str(problems[0]) and "fails its data CRC" in str(problems[0])
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    assert_reported(sweep, path, "fails its data CRC", err, out, "baseline seed 0", "corrupt record skipped")
    assert row_of(sweep, "baseline seed 0")["epochs"] == "3"  # the records after it were read


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_corrupted_length_crc_ends_the_file(sweep, capsys):
    path = file_with(sweep / "0_baseline", "val/loss")
    offset, _ = offsets(path)[5]
    data = bytearray(path.read_bytes())
    data[offset + 9] ^= 0x01  # the length's CRC: nothing after it can be trusted
    path.write_bytes(bytes(data))
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    assert f"bytes {offset}-{len(data)} of {len(data)} could not be read" in err
    assert_reported(sweep, path, "could not be read", err, out, "baseline seed 0", "unreadable bytes")


def test_empty_event_file_and_missing_test_metrics(sweep, capsys):
    path = file_with(sweep / "0_baseline", "test/acc")
    path.write_bytes(b"")
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    assert_reported(sweep, path, "empty event file (0 bytes)", err, out, "baseline seed 0", "empty event file")
    event_dir = sweep / "0_baseline"
    assert_reported(sweep, event_dir, "no test/loss, test/acc", err, out, "baseline seed 0", "no test metrics")
    assert row_of(sweep, "baseline seed 0")["test_acc"] == "nan"
    assert "| baseline seed 0 | 3 |" in out and "| - |" in out  # shown as '-'
    pooled = pool_runs(load_runs(sweep))
    assert pooled[0]["n"] == 1 and pooled[0]["seeds"] == [1]  # left out of the pooled table


@pytest.mark.slow
def test_run_missing_test_metrics(sweep, capsys):
    file_with(sweep / "1_baseline", "test/acc").unlink()
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    event_dir = sweep / "1_baseline"
    assert_reported(sweep, event_dir, "no test/loss, test/acc", err, out, "baseline seed 1", "no test metrics")
    assert "left out of the pooled table" in err


def test_crashed_run_without_hparams(sweep, capsys):
    file_with(sweep / "1_baseline", "_hparams_/session_start_info").unlink()
    runs = load_runs(sweep)
    crashed = next(r for r in runs if r.name == "1_baseline")
    assert crashed.variant == "baseline" and crashed.seed is None  # guessed from the dir name
    rc, out, err = compare(sweep, capsys)
    assert rc == 0
    event_dir = sweep / "1_baseline"
    assert_reported(sweep, event_dir, "no HPARAMS summary", err, out, crashed.label, "no HPARAMS summary")
    assert [r["seeds"] for r in pool_runs(runs)] == [[0]]


def test_run_dir_with_only_an_empty_event_file_is_skipped_and_named(sweep, capsys):
    extra = sweep / "2_baseline"
    extra.mkdir(parents=True)
    (extra / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    rc, out, err = compare(sweep, capsys)
    assert rc == 0 and "found 2 run(s)" in out
    assert f"warning: {extra}: no train/val curves could be read: run skipped" in err
    assert f"warning: {extra / 'events.out.tfevents.1.host.1.0'}: empty event file" in err


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_nothing_usable_is_a_one_line_error(clean, tmp_path, capsys, damage):
    root = tmp_path / "broken"
    shutil.copytree(clean / "0_baseline", root / "0_baseline")
    for path in (root / "0_baseline").glob("events.out.tfevents.*"):
        path.write_bytes(b"" if damage == "empty" else path.read_bytes()[:30])
    rc, out, err = compare(root, capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(root) in err and "no usable runs" in err
    assert ("empty event file" if damage == "empty" else "truncated mid-record") in err
    assert str(next((root / "0_baseline").glob("events.out.tfevents.*"))) in err
    with pytest.raises(OverfitError, match="no usable runs"):
        load_runs(root)


def test_dir_without_runs_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("not a run")
    rc, out, err = compare(tmp_path / "empty", capsys)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: ") and "no TensorBoard runs found" in err


def test_strict_fails_on_any_warning_but_still_writes(sweep, capsys):
    file_with(sweep / "0_baseline", "test/acc").unlink()
    rc, out, err = compare(sweep, capsys, "--strict")
    assert rc == 2 and err.splitlines()[-1].startswith("error: ") and "--strict" in err.splitlines()[-1]
    assert (sweep / "cmp" / "comparison.md").is_file() and (sweep / "cmp" / "warnings.txt").is_file()


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_returned_data_carries_the_warnings(sweep, tmp_path):
    path = file_with(sweep / "0_baseline", "val/loss")
    path.write_bytes(path.read_bytes()[:-3])
    runs = load_runs(sweep)
    written = write_comparison(runs, tmp_path / "cmp")
    assert written["warnings"][: len(runs.warnings)] == runs.warnings and runs.warnings
    assert any(str(path) in w for w in written["warnings"])
    damaged = next(r for r in runs if r.name == "0_baseline")
    assert [p.path for p in damaged.problems][:1] == [path] and damaged.row()["problems"] == "event file truncated"
    assert tmp_path / "cmp" / "warnings.txt" in written["tables"]
