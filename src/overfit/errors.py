"""Errors the user can fix: one line that names the culprit and the fix."""


class OverfitError(ValueError):
    """A bad input or setting, reported in one line that names the culprit and how to fix it."""


class NonFiniteLossError(OverfitError):
    """The training loss became inf or nan; the run stops and keeps its last good checkpoint."""
