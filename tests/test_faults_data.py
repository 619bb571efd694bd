"""Fault injection on the data path: damaged feature caches, an unwritable data_dir, a full disk, oversized
archive members. Small generated archives only (a few hundred reviews). Several writers of one cache (stale temp
files, parallel builders): test_faults_cache_writers.py."""

import errno
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import make_imdb_archive

import overfit.data.imdb as imdb
from overfit import atomic
from overfit.data import archive as imdb_archive
from overfit.data import cache as feature_cache
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
    monkeypatch.setattr(atomic, "temp_path", lambda path: blocker / path.name)


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

    monkeypatch.setattr(feature_cache.np, "savez", full)
    with pytest.raises(OverfitError, match="No space left on device") as e:
        ready(tiny_archive, tmp_path / "data")
    assert "paths.data_dir" in one_line(e)
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and not p.name.endswith(".lock")]


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
