"""What a run needs to be correct inside a sweep or on a cluster.

Item 1 is applied by `overfit.cli.run_task`, item 2 by `overfit.train.train`.

1. DDP inside a Hydra multirun (Lightning #11300, Hydra #2070). Lightning's `strategy=ddp` starts ranks
   1..N-1 by re-running the script with the original command line, `-m` and sweep included: every extra
   rank ran a whole sweep of its own into another directory (with Optuna, on other hyperparameters), and
   under submitit/joblib the command line is not even train.py's. In a multirun we make the extra ranks
   run exactly this job instead: `python train.py <this job's overrides> hydra.mode=RUN
   hydra.run.dir=<this job's dir>` (Lightning has no public hook for that command: overfit/compat/lightning.py).
   After the job, the process group and the env vars Lightning set are
   undone so the next job of the sweep starts its own ranks. Under SLURM with ntasks-per-node = devices
   nothing is re-launched (SLURM starts the ranks), so none of this applies.
2. `ckpt_path=last`: resume from this run's own newest intact checkpoint if there is one, else start fresh:
   what a requeued (preempted) cluster job needs, since it runs again in the same directory
   (overfit/checkpoints/resume.py).
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

log = logging.getLogger("overfit")
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def _one_job_command(entry: str):
    def command(local_rank: int) -> tuple[list[str], str]:
        hc = HydraConfig.get()
        cmd = [
            sys.executable,
            entry,
            *hc.overrides.task,
            "hydra.mode=RUN",
            f'hydra.run.dir="{hc.runtime.output_dir}"',
            f"hydra.job.name={hc.job.name}_ddp_rank_{local_rank}",
            "hydra.output_subdir=null",
        ]
        return cmd, hc.runtime.cwd

    return command


@contextmanager
def ddp_ranks_run_this_job(entry: str):
    """In a multirun, point Lightning's re-launch of DDP ranks at this one job (`entry`: the script, train.py)."""
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        yield
        return
    from overfit.compat.lightning import hydra_subprocess_command

    saved_env = {k: os.environ.get(k) for k in DDP_ENV}
    try:
        with hydra_subprocess_command(_one_job_command(entry)):
            yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()  # else the next job would reuse this job's (finished) ranks
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
