"""What we print for people, kept in the run's log too: the one way any module here talks to the user.

    show(text)          print it (stderr with error=True) and record it through the `overfit.shown` logger
    record(text)        record an error in the run's log only (the terminal shows it some other way)

Outside a run the logger has nowhere to write; while a run's task runs, runs/train_log.py adds the run's
train.log to it. It lives here, at the bottom of the tree, so that the data and the models can tell people
something (class counts, the SVD optimum) without importing the run machinery.
"""

from __future__ import annotations

import logging
import sys

SHOWN = logging.getLogger("overfit.shown")
SHOWN.propagate = False  # the terminal gets the text from print(): the root's console must not repeat it
SHOWN.addHandler(logging.NullHandler())  # outside a run: nowhere (not Python's last-resort stderr handler)
SHOWN.setLevel(logging.INFO)


def show(text: str, *, error: bool = False) -> None:
    """Print `text` (stderr for an error), exactly as print() does, and keep it in the run's log."""
    print(text, file=sys.stderr if error else sys.stdout, flush=True)
    SHOWN.log(logging.ERROR if error else logging.INFO, text)


def record(text: str, *, exc_info: bool = False) -> None:
    """Keep an error in the run's log only: what the terminal shows some other way (a sweep's error line, printed
    once the sweep ends; Python's traceback of a crash, with `exc_info`)."""
    SHOWN.error(text, exc_info=exc_info)
