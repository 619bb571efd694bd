"""Fault injection on the feature cache's writers: temp files left by killed writers are cleaned, two processes
(or, without flock, two threads) building one cache end with one correct cache. Small generated archives only."""

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from test_faults_data import boom, make, ready, same_data

from overfit.data import archive as imdb_archive
from overfit.data import cache as feature_cache


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
        old, ancient = now - 2 * feature_cache.STALE_TEMP_GRACE_S, now - feature_cache.STALE_TEMP_MAX_AGE_S - 60
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
    monkeypatch.setattr(feature_cache, "cache_lock", lambda cache: nullcontext())
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
