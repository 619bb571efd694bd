"""Hydra's private names that overfit needs (hydra-core 1.3).

`Callbacks`: overfit.run() (api.py) runs one job as @hydra.main does, with hydra.core.utils.run_job, whose
HydraContext needs the object that calls the configured hydra.callbacks (on_run_start, on_job_start, ...).
Hydra keeps that class internal: HydraContext's own annotation names hydra._internal.callbacks.Callbacks
(https://github.com/hydra-ecosystem/hydra/pull/1581), the callback machinery was to "remain Hydra internal"
(https://github.com/hydra-ecosystem/hydra/pull/1441), and no public entry point runs a job from Python with
given overrides (https://github.com/hydra-ecosystem/hydra/issues/2459, open). A copy of the class here would
silently miss the hooks that a later Hydra adds.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig


def job_callbacks(config: DictConfig) -> Any:
    """The callbacks of `config.hydra.callbacks`, instantiated, as Hydra's run of @hydra.main builds them: for
    HydraContext(callbacks=...), and on_run_start / on_run_end around run_job."""
    from hydra._internal.callbacks import Callbacks

    return Callbacks(config)
