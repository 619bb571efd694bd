"""Lightning's private names that overfit needs (lightning 2.x).

`_hydra_subprocess_cmd`: under Hydra, Lightning's `strategy=ddp` starts ranks 1..N-1 by re-running the script with
the command this function builds from sys.argv, `-m` and the whole sweep included, so inside a multirun every
extra rank ran a sweep of its own (https://github.com/Lightning-AI/pytorch-lightning/issues/11300,
https://github.com/hydra-ecosystem/hydra/issues/2070, both still about it; the fix for multiruns,
https://github.com/Lightning-AI/pytorch-lightning/pull/18175, was never merged). Lightning offers no public hook
for that command: the launcher (`_SubprocessScriptLauncher`) and the strategy method that picks it
(`_configure_launcher`) are private too, and this module-level function is the smallest of those reaches.
overfit.runs.ddp swaps in a command that re-runs only this job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import lightning

log = logging.getLogger("overfit")

SUBPROCESS_CMD = "_hydra_subprocess_cmd"  # in both modules below; Lightning's pytorch launcher imports fabric's


def _launcher_modules() -> list:
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as pl_launcher

    return [pl_launcher, fabric_launcher]


@contextmanager
def hydra_subprocess_command(command: Callable[[int], tuple[list[str], str]]) -> Iterator[None]:
    """While inside, Lightning starts each extra DDP rank under Hydra with `command(local_rank)` -> (argv, cwd)."""
    modules = _launcher_modules()
    missing = [m.__name__ for m in modules if not callable(getattr(m, SUBPROCESS_CMD, None))]
    if missing:  # setting the name anyway would change nothing. Every job of a multirun passes here, DDP or not:
        # refusing them all would stop sweeps that never start a rank, so this says what would go wrong instead.
        log.warning(
            f"lightning {lightning.__version__}: {', '.join(missing)}.{SUBPROCESS_CMD} is gone "
            "(overfit/compat/lightning.py): with trainer=ddp and devices > 1 inside this multirun, every extra rank "
            "would re-run the whole sweep; run such jobs without -m, or install a lightning that has it (2.6 does)"
        )
        yield
        return
    saved = [getattr(m, SUBPROCESS_CMD) for m in modules]
    for module in modules:
        setattr(module, SUBPROCESS_CMD, command)
    try:
        yield
    finally:
        for module, original in zip(modules, saved):
            setattr(module, SUBPROCESS_CMD, original)
