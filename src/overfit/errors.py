"""Errors the user can fix: one line that names the culprit and the fix."""


class OverfitError(ValueError):
    """A bad input or setting, reported in one line that names the culprit and how to fix it."""


class NonFiniteLossError(OverfitError):
    """The training loss became inf or nan; the run stops and keeps its last good checkpoint."""


class RunInterrupted(Exception):
    """SIGTERM / SIGINT during a run: reported in one line (where to resume) with exit code 128 + signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum
