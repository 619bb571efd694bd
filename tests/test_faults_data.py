"""Fault injection on the data path: damaged feature caches, stale temp files, parallel builders, an unwritable
data_dir, oversized archive members. Small generated archives only (a few hundred reviews)."""

import errno
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from conftest import make_imdb_archive

import overfit.data.imdb as imdb
from overfit.data import archive as imdb_archive
from overfit.errors import OverfitError

SETTINGS = {"sha256": None, "vocab_size": 50, "val_size": 40, "batch_size": 16}


def make(archive, data_dir, **kwargs) -> imdb.IMDBDataModule:
    return imdb.IMDBDataModule(archive=str(archive), data_dir=str(data_dir), **{**SETTINGS, **kwargs})


def ready(archive, data_dir, prepare=True, **kwargs) -> imdb.IMDBDataModule:
    dm = make(archive, data_dir, **kwargs)
    if prepare:
        dm.prepare_data()
    dm.setup("fit")
    return dm


def boom(*args, **kwargs):
    raise AssertionError("read the archive")


def one_line(exc_info) -> str:
    assert "\n" not in str(exc_info.value)
    return str(exc_info.value)


def same_data(a: imdb.IMDBDataModule, b: imdb.IMDBDataModule) -> None:
    assert a.vocabulary == b.vocabulary
    for split in ("train", "val", "test"):
        for name in ("indptr", "indices", "labels"):
            np.testing.assert_array_equal(getattr(a.datasets[split], name), getattr(b.datasets[split], name))


# ---- damaged caches: detected, one warning line, rebuilt ---------------------------------------------------
def rewrite_npz(cache: Path, change) -> None:
    with np.load(cache / "features.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    with open(cache / "features.npz", "wb") as f:
        np.savez(f, **arrays)


def set_item(name, index, value):
    def change(arrays):
        arrays[name] = arrays[name].copy()
        arrays[name][index] = value

    return change


def halve(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_middle(path: Path) -> None:  # still a zip with its directory intact: only the CRC check notices
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


DAMAGE = {
    "npz truncated": (lambda c: halve(c / "features.npz"), "features.npz is unreadable"),
    "npz garbage": (lambda c: (c / "features.npz").write_bytes(os.urandom(5000)), "features.npz is unreadable"),
    "npz bytes flipped": (lambda c: flip_middle(c / "features.npz"), "features.npz is unreadable"),
    "npz deleted": (lambda c: (c / "features.npz").unlink(), "features.npz is missing"),
    "vocab deleted": (lambda c: (c / "vocab.json").unlink(), "vocab.json is missing"),
    "vocab truncated": (lambda c: halve(c / "vocab.json"), "vocab.json is unreadable"),
    "vocab not json": (lambda c: (c / "vocab.json").write_bytes(b"\x00\xffnot json"), "vocab.json is unreadable"),
    "vocab wrong shape": (lambda c: (c / "vocab.json").write_text(json.dumps({"vocabulary": 3})), "no list"),
    "indptr vs labels": (
        lambda c: rewrite_npz(c, lambda a: a.update(train_labels=a["train_labels"][:-1])),
        "train has 119 labels",
    ),
    # The tiny archive's vocabulary has 47 words (vocab_size=50 is more than its training reviews hold).
    "index out of vocabulary": (lambda c: rewrite_npz(c, set_item("test_indices", 0, 10**6)), "outside the 47-word"),
    "negative index": (lambda c: rewrite_npz(c, set_item("train_indices", -1, -3)), "outside the 47-word"),
    "label not 0/1": (lambda c: rewrite_npz(c, set_item("test_labels", 5, 2)), "other than 0 and 1"),
    "indptr past indices": (lambda c: rewrite_npz(c, set_item("train_indptr", -1, 10**9)), "does not index"),
    "array missing": (lambda c: rewrite_npz(c, lambda a: a.pop("test_ids")), "lacks test_ids"),
}


@pytest.mark.parametrize("prepare", [True, False], ids=["prepare+setup", "setup only"])
@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_cache_is_rebuilt_with_one_warning(tiny_archive, tmp_path, caplog, monkeypatch, case, prepare):
    reference = ready(tiny_archive, tmp_path / "data")
    cache = reference.cache_dir()
    damage, reason = DAMAGE[case]
    damage(cache)
    with caplog.at_level(logging.WARNING, logger="overfit.data.imdb"):
        rebuilt = ready(tiny_archive, tmp_path / "data", prepare=prepare)
    warnings = [r.getMessage() for r in caplog.records if r.name == "overfit.data.imdb"]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert str(cache) in warnings[0] and reason in warnings[0] and "rebuilding" in warnings[0]
    same_data(rebuilt, reference)
    assert sorted(p.name for p in cache.iterdir()) == ["features.npz", "vocab.json"]  # no temp files left
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)  # the rebuilt cache is whole: used as it is
    same_data(ready(tiny_archive, tmp_path / "data"), reference)


def test_first_build_warns_nothing(tiny_archive, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="overfit.data.imdb"):
        ready(tiny_archive, tmp_path / "data")
        ready(tiny_archive, tmp_path / "other", prepare=False)  # setup() without prepare_data() builds it too
    assert not [r for r in caplog.records if r.name == "overfit.data.imdb"]


def probe_fails(monkeypatch, tmp_path) -> None:
    """Make every temp file (the write probe, atomic writes) land under a regular file: writes fail, even as root."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    monkeypatch.setattr(imdb, "_temp_path", lambda path: blocker / path.name)


def test_damaged_cache_that_cannot_be_rebuilt_names_the_directory(tiny_archive, tmp_path, monkeypatch):
    cache = ready(tiny_archive, tmp_path / "data").cache_dir()
    halve(cache / "features.npz")
    probe_fails(monkeypatch, tmp_path)
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)  # refused before reading
    with pytest.raises(OverfitError, match="is damaged") as e:
        ready(tiny_archive, tmp_path / "data")
    message = one_line(e)
    assert str(cache) in message and "features.npz is unreadable" in message and "delete that directory" in message


def test_complete_cache_in_a_read_only_place_is_used(tiny_archive, tmp_path, monkeypatch):
    reference = ready(tiny_archive, tmp_path / "data")
    probe_fails(monkeypatch, tmp_path)
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)
    same_data(ready(tiny_archive, tmp_path / "data"), reference)


def test_disk_full_while_writing(tiny_archive, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imdb.np, "savez", full)
    with pytest.raises(OverfitError, match="No space left on device") as e:
        ready(tiny_archive, tmp_path / "data")
    assert "paths.data_dir" in one_line(e)
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and not p.name.endswith(".lock")]


# ---- stale temp files ----------------------------------------------------------------------------------------
def dead_pid() -> int:
    pid = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
        ).stdout
    )
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    pytest.skip(f"pid {pid} was reused at once")


def test_stale_temp_files_of_dead_writers_are_removed(tiny_archive, tmp_path, monkeypatch):
    reference = ready(tiny_archive, tmp_path / "data")
    cache = reference.cache_dir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        dead, now = dead_pid(), time.time()
        old, ancient = now - 2 * imdb.STALE_TEMP_GRACE_S, now - imdb.STALE_TEMP_MAX_AGE_S - 60
        files = {  # name: (mtime, removed?)
            f".features.npz.{dead}.tmp": (old, True),  # the pre-thread-id name
            f".vocab.json.{dead}.{dead}.tmp": (old, True),
            f".probe.{dead}.1.tmp": (old, True),
            f".features.npz.{dead}.2.tmp": (now, False),  # dead here, but written just now (another machine?)
            f".features.npz.{live.pid}.tmp": (old, False),  # a live writer's
            f".vocab.json.{os.getpid()}.3.tmp": (old, False),  # ours
            f".features.npz.{live.pid}.4.tmp": (ancient, True),  # over a day old: whoever it was, it is stale
            ".features.npz.notapid.tmp": (ancient, False),  # not a name we write
            "notes.tmp": (ancient, False),
        }
        for name, (mtime, _) in files.items():
            (cache / name).write_bytes(b"partial")
            os.utime(cache / name, (mtime, mtime))
        monkeypatch.setattr(imdb_archive, "read_reviews", boom)  # the cache itself is fine: not rebuilt
        same_data(ready(tiny_archive, tmp_path / "data"), reference)
        left = {p.name for p in cache.iterdir()}
        assert left == {"features.npz", "vocab.json"} | {name for name, (_, gone) in files.items() if not gone}
    finally:
        live.kill()
        live.wait()


# ---- parallel builders -----------------------------------------------------------------------------------------
def build_in_child(archive_path, data_dir, flags: Path) -> None:
    """A forked process (imports inherited: no 2 x 4 s of importing lightning): wait for "go", build, report."""
    read = imdb_archive.read_reviews

    def counted(*args, **kwargs):
        (flags / f"read.{os.getpid()}").touch()
        time.sleep(0.5)  # a slower build: the other process surely arrives while it runs
        return read(*args, **kwargs)

    imdb_archive.read_reviews = counted  # this process only
    (flags / f"ready.{os.getpid()}").touch()
    while not (flags / "go").exists():
        time.sleep(0.01)
    dm = make(archive_path, data_dir)
    dm.prepare_data()
    vocabulary, arrays = dm._load_cache(dm.cache_dir())  # what setup() loads, checked
    (flags / f"result.{os.getpid()}").write_text(
        json.dumps({"words": len(vocabulary), **{name: int(a.sum()) for name, a in arrays.items()}})
    )


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_two_processes_build_the_same_cache(tiny_archive, tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=build_in_child, args=(tiny_archive, tmp_path / "data", flags)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        deadline = time.time() + 60
        while len(list(flags.glob("ready.*"))) < 2 and time.time() < deadline:
            time.sleep(0.01)
        (flags / "go").touch()
        for p in procs:
            p.join(120)
    finally:
        for p in procs:
            p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    results = [json.loads(f.read_text()) for f in flags.glob("result.*")]
    assert len(results) == 2 and results[0] == results[1]
    assert len(list(flags.glob("read.*"))) == 1  # they took turns: the second used the first one's cache
    reference = ready(tiny_archive, tmp_path / "fresh")
    cache = make(tiny_archive, tmp_path / "data").cache_dir()
    assert sorted(p.name for p in cache.iterdir()) == ["features.npz", "vocab.json"]
    same_data(ready(tiny_archive, tmp_path / "data"), reference)


def test_two_builders_without_the_lock_still_end_with_a_correct_cache(tiny_archive, tmp_path, monkeypatch):
    """No flock (another OS, a filesystem without it): both build at once; atomic writes keep every file whole."""
    monkeypatch.setattr(imdb, "_cache_lock", lambda cache: nullcontext())
    both_reading = threading.Barrier(2, timeout=60)
    read = imdb_archive.read_reviews

    def together(*args, **kwargs):
        both_reading.wait()  # both threads are building at the same time
        return read(*args, **kwargs)

    monkeypatch.setattr(imdb_archive, "read_reviews", together)
    results, errors = {}, []

    def build(i):
        try:
            results[i] = ready(tiny_archive, tmp_path / "data")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 2
    same_data(results[0], results[1])
    cache = results[0].cache_dir()
    assert sorted(p.name for p in cache.iterdir()) == ["features.npz", "vocab.json"]
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)
    same_data(ready(tiny_archive, tmp_path / "data"), results[0])


# ---- unwritable data_dir: one line, before the archive is read ------------------------------------------------
@pytest.mark.parametrize("prepare", [True, False], ids=["prepare+setup", "setup only"])
def test_data_dir_under_a_regular_file(tiny_archive, tmp_path, monkeypatch, prepare):
    (tmp_path / "afile").write_text("not a directory")
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)
    with pytest.raises(OverfitError, match="is not writable") as e:
        ready(tiny_archive, tmp_path / "afile" / "sub", prepare=prepare)
    message = one_line(e)
    assert str(tmp_path / "afile" / "sub") in message and "paths.data_dir" in message


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through chmod 555")
def test_read_only_data_dir(tiny_archive, tmp_path, monkeypatch):
    data_dir = tmp_path / "ro"
    data_dir.mkdir()
    data_dir.chmod(0o555)
    monkeypatch.setattr(imdb_archive, "read_reviews", boom)
    try:
        with pytest.raises(OverfitError, match="is not writable") as e:
            ready(tiny_archive, data_dir)
        assert str(data_dir) in one_line(e)
    finally:
        data_dir.chmod(0o755)


# ---- oversized archive members --------------------------------------------------------------------------------
def test_oversized_review_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = "aclImdb/train/pos/999_9.txt"
    archive = make_imdb_archive(tmp_path / "a.tar.gz", extra={big: "great " * 1000})  # 6,000 bytes
    monkeypatch.setattr(imdb_archive, "MAX_REVIEW_BYTES", 4096)
    with pytest.raises(OverfitError, match="4,096-byte limit") as e:
        ready(archive, tmp_path / "data")
    assert big in one_line(e) and "6,000 bytes" in one_line(e)
    assert not list((tmp_path / "data").rglob("*.npz"))


def test_many_reviews_over_the_total_limit(tiny_archive, tmp_path, monkeypatch):
    monkeypatch.setattr(imdb_archive, "MAX_TOTAL_REVIEW_BYTES", 20_000)  # the tiny archive holds ~70 KB of reviews
    with pytest.raises(OverfitError, match="20,000-byte limit for all of them") as e:
        ready(tiny_archive, tmp_path / "data")
    one_line(e)


def test_large_members_that_are_not_reviews_are_skipped(tmp_path, monkeypatch):
    archive = make_imdb_archive(
        tmp_path / "a.tar.gz", extra={"aclImdb/imdbEr.txt": "0.1\n" * 5000, "aclImdb/train/unsup/99_0.txt": "x" * 9000}
    )
    monkeypatch.setattr(imdb_archive, "MAX_REVIEW_BYTES", 4096)
    assert len(ready(archive, tmp_path / "data").datasets["train"]) == 80
