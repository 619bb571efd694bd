"""The IMDB feature cache: vectorized reviews on disk, so a run loads them in <1 s instead of ~10 s of reading.

    <data_dir>/cache/<key>/features.npz   CSR arrays train_/test_ indptr, indices, labels, ids (np.savez)
    <data_dir>/cache/<key>/vocab.json     vocabulary, preprocessing, archive SHA-256; written last
    <data_dir>/cache/.<key>.lock          flock: builders of the same key take turns

key = hash(CACHE_FORMAT, archive SHA-256, preprocessing, vocab_size). The cache is checked on every load
(O(n) numpy checks, ~3 ms): a damaged one (truncated, garbage, half deleted, inconsistent arrays) raises
CacheDamaged and the data module rebuilds it. Files are written atomically (overfit.atomic); temp files left
by killed writers are cleaned here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from overfit import atomic
from overfit.errors import OverfitError

try:
    import fcntl
except ImportError:  # not POSIX: builders do not take turns, which costs time, not correctness (atomic writes)
    fcntl = None

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the cache layout or the tokenizer changes, so old caches are never reused
CACHE_FILES = ("features.npz", "vocab.json")  # vocab.json is written last
SPLITS = ("train", "test")
# Temp files are atomic.temp_path's .<name>.<pid>[.<thread id>].tmp beside the cache files. One left by a killed
# process is deleted when its pid is no live process here and it has not been written for STALE_TEMP_GRACE_S (a
# writer on another machine sharing the directory keeps writing it), or when it is older than STALE_TEMP_MAX_AGE_S
# whatever the pid.
_TEMP = re.compile(r"\.(?:features\.npz|vocab\.json|probe)\.(\d+)(?:\.\d+)?\.tmp")
STALE_TEMP_GRACE_S = 60
STALE_TEMP_MAX_AGE_S = 24 * 3600


class CacheDamaged(Exception):
    """Why a cache directory cannot be used as it is (a missing, unreadable or inconsistent file); it gets rebuilt."""


def cache_path(data_dir: str, checksum: str, vocab_size: int, preprocessing: dict) -> Path:
    """<data_dir>/cache/<key>/ of these settings (nothing is read or created)."""
    key = json.dumps(
        {"format": CACHE_FORMAT, "archive_sha256": checksum, "vocab_size": vocab_size, **preprocessing},
        sort_keys=True,
    )
    return Path(data_dir).expanduser() / "cache" / hashlib.sha256(key.encode()).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def clean_stale_temps(cache: Path) -> list[Path]:
    """Delete temp files of dead writers in `cache` (see _TEMP); returns them. Never raises (read-only caches)."""
    removed, now = [], time.time()
    try:
        candidates = [p for p in cache.iterdir() if _TEMP.fullmatch(p.name)]
    except OSError:
        return removed
    for path in candidates:
        try:
            age, pid = now - path.stat().st_mtime, int(_TEMP.fullmatch(path.name)[1])
            if age > STALE_TEMP_MAX_AGE_S or (age > STALE_TEMP_GRACE_S and not _pid_alive(pid)):
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile (its writer finished), or not ours to delete
            pass
    return removed


@contextlib.contextmanager
def cache_lock(cache: Path):
    """Exclusive flock on <data_dir>/cache/.<key>.lock (outside the cache dir, so deleting that dir stays safe)."""
    try:
        f = open(cache.parent / f".{cache.name}.lock", "ab")
    except OSError:
        f = None
    try:
        if f is not None and fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info(f"waiting for another process building the feature cache {cache}")
                fcntl.flock(f, fcntl.LOCK_EX)
            except OSError:  # no flock on this filesystem: go without
                pass
        yield
    finally:
        if f is not None:
            f.close()  # releases the lock


def check_writable(cache: Path, data_dir: str, damage: str | None) -> None:
    """Fail in one line before the archive is read (~10 s) if the cache could not be written after it.

    `damage`: what is wrong with the cache there now (None: nothing there); named if it cannot be rebuilt."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = atomic.temp_path(cache / "probe")  # a temp name: clean_stale_temps removes it if we die here
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        why = f"{exc.strerror or type(exc).__name__}: {exc.filename}" if exc.filename else str(exc)
        if damage is not None:
            raise OverfitError(
                f"feature cache {cache} is damaged ({damage}) and cannot be rebuilt there "
                f"({why}): delete that directory, or set paths.data_dir to a writable "
                f"directory"
            ) from None
        raise OverfitError(
            f"data_dir {data_dir!r} is not writable ({why}), so the feature cache cannot "
            f"be built: set paths.data_dir (data.data_dir) to a writable directory"
        ) from None


def check_arrays(arrays: dict[str, np.ndarray], n_words: int) -> None:
    """Raise CacheDamaged unless `arrays` are the CSR splits vectorize() writes: O(nnz) numpy, 2-4 ms on IMDB."""
    for split in SPLITS:
        names = [f"{split}_{part}" for part in ("indptr", "indices", "labels", "ids")]
        missing = [name for name in names if name not in arrays]
        if missing:
            raise CacheDamaged(f"features.npz lacks {', '.join(missing)}")
        indptr, indices, labels, ids = (arrays[name] for name in names)
        if any(a.ndim != 1 or a.dtype.kind not in "iu" for a in (indptr, indices, labels, ids)):
            raise CacheDamaged(f"features.npz: {split} arrays are not 1-D integer arrays")
        n = len(labels)
        if n == 0 or len(ids) != n or len(indptr) != n + 1:
            raise CacheDamaged(f"features.npz: {split} has {n} labels, {len(ids)} ids and {len(indptr) - 1} rows")
        if indptr[0] != 0 or indptr[-1] != len(indices) or (indptr[1:] < indptr[:-1]).any():
            raise CacheDamaged(f"features.npz: {split}_indptr does not index its {len(indices)} column ids")
        if len(indices) and (indices.min() < 0 or indices.max() >= n_words):
            raise CacheDamaged(f"features.npz: {split}_indices has ids outside the {n_words}-word vocabulary")
        if not ((labels == 0) | (labels == 1)).all():
            raise CacheDamaged(f"features.npz: {split}_labels holds values other than 0 and 1")


def load_cache(
    cache: Path, vocab_size: int, preprocessing: dict, checksum: str
) -> tuple[list[str], dict[str, np.ndarray]]:
    """(vocabulary, arrays) of a complete, consistent cache; raises CacheDamaged saying what is wrong."""
    try:
        meta = json.loads((cache / "vocab.json").read_bytes())
    except FileNotFoundError:
        raise CacheDamaged("vocab.json is missing") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError: truncated or garbage
        raise CacheDamaged(f"vocab.json is unreadable, {type(exc).__name__}") from None
    vocabulary = meta.get("vocabulary") if isinstance(meta, dict) else None
    if not (
        isinstance(vocabulary, list)
        and 0 < len(vocabulary) <= vocab_size
        and all(isinstance(word, str) for word in vocabulary)
        and len(set(vocabulary)) == len(vocabulary)
    ):
        raise CacheDamaged(f"vocab.json holds no list of at most {vocab_size} distinct words")
    if meta.get("preprocessing") != preprocessing or meta.get("archive_sha256") != checksum:
        raise CacheDamaged("vocab.json was written for other settings")
    try:
        with open(cache / "features.npz", "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # np.load would try it as a .npy or a pickle
                raise CacheDamaged("features.npz is unreadable, not a zip file")
            f.seek(0)
            with np.load(f) as npz:  # reading every array checks the zip CRCs
                arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise CacheDamaged("features.npz is missing") from None
    except CacheDamaged:
        raise
    except Exception as exc:  # BadZipFile, ValueError, EOFError, OSError...: truncated or garbage, all alike
        detail = f": {str(exc).splitlines()[0][:60]}" if str(exc) else ""
        raise CacheDamaged(f"features.npz is unreadable, {type(exc).__name__}{detail}") from None
    check_arrays(arrays, len(vocabulary))
    return vocabulary, arrays


def write_cache(
    cache: Path, vocabulary: list[str], arrays: dict[str, np.ndarray], preprocessing: dict, checksum: str
) -> None:
    """features.npz, then vocab.json (whose presence says the cache is complete), each written atomically."""
    meta = {"vocabulary": vocabulary, "preprocessing": preprocessing, "archive_sha256": checksum}
    try:
        cache.mkdir(parents=True, exist_ok=True)  # deleted while we were reading?
        atomic.write_with(cache / "features.npz", lambda f: np.savez(f, **arrays))
        atomic.write_text(cache / "vocab.json", json.dumps(meta))
    except OSError as exc:  # disk full, say
        raise OverfitError(
            f"cannot write the feature cache {cache} ({exc.strerror or exc}): free space "
            f"there, or set paths.data_dir to another directory"
        ) from None
