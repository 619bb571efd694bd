"""overfit.atomic: the one atomic writer (feature cache, metrics.json, search report). A failed write leaves the
old file whole and no temp file; the temp names are the ones the data cache's stale-temp cleaning recognizes."""

import os
import threading

import pytest

from overfit import atomic
from overfit.data import cache as feature_cache


def test_writes_replace_the_file_and_leave_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    atomic.write_text(target, "old")
    atomic.write_text(target, "new\r\n")  # newlines as given (a CSV's \r\n)
    atomic.write_with(tmp_path / "blob.bin", lambda f: f.write(b"\x00\x01"))
    assert target.read_bytes() == b"new\r\n" and (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin", "metrics.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "features.npz"
    atomic.write_bytes(target, b"whole")

    def half_then_fail(f):
        f.write(b"ha")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.write_with(target, half_then_fail)
    assert target.read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["features.npz"]


def test_temp_names_are_per_writer_and_known_to_the_cache_cleaner(tmp_path):
    tmp = atomic.temp_path(tmp_path / "vocab.json")
    assert tmp.parent == tmp_path and tmp.name == f".vocab.json.{os.getpid()}.{threading.get_native_id()}.tmp"
    match = feature_cache._TEMP.fullmatch(tmp.name)
    assert match and int(match[1]) == os.getpid()  # the pid the cleaner checks for liveness
    other = []
    thread = threading.Thread(target=lambda: other.append(atomic.temp_path(tmp_path / "vocab.json")))
    thread.start()
    thread.join()
    assert other[0] != tmp  # two threads building one cache never share a temp file
