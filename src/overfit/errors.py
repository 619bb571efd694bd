"""Errors the user can fix: one line that names the culprit and the fix."""

from pathlib import Path


class OverfitError(ValueError):
    """A bad input or setting, reported in one line that names the culprit and how to fix it."""


def read_input_file(path: Path, setting: str, expected: str) -> bytes:
    """The bytes of a file the user named, or one line: `setting` names it, `expected` says what it should be."""
    if path.is_dir():
        raise OverfitError(f"{setting}: is a directory; pass {expected}")
    if not path.is_file():
        raise OverfitError(f"{setting}: does not exist; pass {expected}")
    try:
        return path.read_bytes()
    except OSError as err:
        raise OverfitError(f"{setting}: cannot be read ({err.strerror or err}); check the file's permissions") from None


class NonFiniteLossError(OverfitError):
    """The training loss became inf or nan; the run stops and keeps its last good checkpoint."""


class RunInterrupted(Exception):
    """SIGTERM / SIGINT during a run: reported in one line (where to resume) with exit code 128 + signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum
