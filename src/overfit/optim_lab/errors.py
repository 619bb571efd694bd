"""Errors of the optimization lab.

The project-wide `overfit.errors.OverfitError` (a ValueError with a one-line message naming the culprit and the fix)
is owned by the lead; until it exists we define a stand-in here so this package works on its own.
"""

try:  # the shared error class, when the lead's module is there
    from overfit.errors import OverfitError
except ImportError:  # pragma: no cover - depends on what else is in the tree

    class OverfitError(ValueError):
        """One-line, user-facing error: names the culprit and the fix."""


class OptimLabError(OverfitError):
    """Bad input to the optimization lab (unknown surface, lr <= 0, start of the wrong length, ...)."""
