"""The one way files are written here when someone may read them meanwhile or a kill may come mid-write.

    atomic.write_text(run_dir / "metrics.json", json.dumps(record))
    atomic.write_with(cache / "features.npz", lambda f: np.savez(f, **arrays))    # any writer taking a binary file
    atomic.write_with(out / "history.png", lambda f: fig.savefig(f, format="png"))

The bytes go to a temp file beside the target (same directory, so same filesystem: os.replace is atomic there),
are fsynced, then renamed over it: a reader sees the old file or the new one whole, never half of one, and a
crash, a full disk or a kill leaves the old file as it was. Used for the feature cache (data/cache.py),
metrics.json (runs/summary.py) and the search report (search/report.py). Checkpoints have their own writer
(checkpoints/io.py: torch.save straight to a temp file, no fsync of 65 MB every epoch).

Temp names are .<name>.<pid>.<thread id>.tmp, unique per writer, so parallel writers (several Optuna workers,
two builders of one cache) never write into one temp file. A temp file left by a killed process stays until
someone removes it: data/cache.py recognizes these names and cleans them in the cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temp_path(path: Path) -> Path:
    """Where `path` is written before the rename: beside it, named after this process and thread."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_native_id()}.tmp")


def write_with(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """write(binary file) into a temp file beside `path`, fsync, then os.replace onto `path`.

    On any error (in `write` too) the temp file is removed and `path` is left as it was."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it (a power cut mid-way)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    write_with(path, lambda f: f.write(data))


def write_text(path: str | Path, text: str) -> None:
    """`text` as UTF-8; newlines as given (a CSV's \\r\\n stays \\r\\n)."""
    write_bytes(path, text.encode("utf-8"))
