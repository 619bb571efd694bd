"""Each run's own log: <run dir>/train.log holds what the terminal showed, so a run's record does not depend on
the terminal (under SLURM, stdout ends in .submitit/*_log.out, far from the run).

Hydra's job logging (conf/hydra/default.yaml) gives the root logger a file handler on <run dir>/<job name>.log.
While a run's task runs (`recorded()`, entered by overfit.cli for train.py, eval.py and overfit.run):
- records of our own loggers reach it through the root, as they always did;
- `overfit.shown.show(text)`: what we print for people (the summary, errors, the resume hint) is printed as before
  and recorded through the `overfit.shown` logger, which only the run's log hears;
- Lightning's loggers: Lightning, imported before logging is configured (train.py), gives them a stderr handler of
  their own and stops their records there; the run's log is added to them;
- warnings: `logging.captureWarnings`; the terminal still gets each warning as Python prints it (stderr).
Progress bars write to the terminal directly, never through logging: their redraws stay out of the log.
"""

from __future__ import annotations

import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from overfit.shown import SHOWN

LIGHTNING = ("lightning.pytorch", "lightning.fabric")
_active: list[bool] = []  # recorded() is re-entered by cli.call_task under cli.run_task: the outer one records
_fresh: set[Path] = set()  # run logs that were empty when the run began (cli.drop_empty_run_dir)


def run_logs() -> list[logging.FileHandler]:
    """The root's file handlers that write into this job's run dir: Hydra's train.log (a user's own log files,
    as in a notebook calling overfit.run, are left alone)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    out = Path(HydraConfig.get().runtime.output_dir).resolve()
    handlers = logging.getLogger().handlers
    return [h for h in handlers if isinstance(h, logging.FileHandler) and Path(h.baseFilename).resolve().parent == out]


def only_this_runs(log: Path) -> bool:
    """`log` holds nothing written before this process's run began (a refused run's dir can go, log and all)."""
    return log.resolve() in _fresh or log.stat().st_size == 0


class _OneLine(logging.Filter):
    """captureWarnings logs Python's text of a warning, newline included; the handlers add their own, so it is
    dropped (else an empty line would follow each warning, on the terminal and in the log)."""

    def filter(self, rec: logging.LogRecord) -> bool:
        rec.msg, rec.args = rec.getMessage().rstrip("\n"), ()
        return True


@contextmanager
def recorded():
    """While the run's task runs, Lightning's lines, warnings and show()'s text also go to the run's log.
    Yields True where this call records (the outermost one, under Hydra's job logging)."""
    files = [] if _active else run_logs()
    if not files:  # not under Hydra's job logging (train() called directly), or already recording
        yield False
        return
    undo = []

    def add(logger: logging.Logger, handlers: list[logging.Handler]) -> None:
        for handler in handlers:
            logger.addHandler(handler)
            undo.append(lambda lg=logger, h=handler: lg.removeHandler(h))

    _active.append(True)
    try:
        for handler in files:
            path = Path(handler.baseFilename).resolve()
            if not path.is_file() or path.stat().st_size == 0:
                _fresh.add(path)
            else:  # an earlier run's log, in a run dir given again (hydra.run.dir=...): never dropped with it
                _fresh.discard(path)
        add(SHOWN, files)
        for name in LIGHTNING:
            if not logging.getLogger(name).propagate:  # else its records reach the root's handlers anyway
                add(logging.getLogger(name), files)
        before = warnings.showwarning
        logging.captureWarnings(True)
        if warnings.showwarning is not before:  # ours to route (a notebook may capture warnings itself)
            undo.append(lambda: logging.captureWarnings(False))
            py_warnings = logging.getLogger("py.warnings")
            propagate, one_line = py_warnings.propagate, _OneLine()
            py_warnings.propagate = False  # the root's console would print it again, in its own format
            py_warnings.addFilter(one_line)
            undo.append(lambda: (setattr(py_warnings, "propagate", propagate), py_warnings.removeFilter(one_line)))
            add(py_warnings, [logging.StreamHandler(sys.stderr), *files])  # stderr: where Python prints warnings
        yield True
    finally:
        for step in reversed(undo):
            step()
        _active.pop()
