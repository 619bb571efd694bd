"""`logger=csv`: Lightning's CSVLogger writing <run dir>/metrics.csv, one row per epoch and stage.

The model logs its curves at step = the epoch (models/mlp.py), as for TensorBoard: a row holds `step` (the epoch,
from 1) and that stage's metrics (train/loss, train/acc, ... or val/loss, val/acc, ...); the test's row comes at
the tested epoch. `pandas.read_csv(".../metrics.csv").groupby("step").first()` gives one row per epoch.

Two things Lightning's CSVLogger does that a run dir does not want, undone here through its public attributes:
- it warns that the directory "exists and is not empty" (a run dir holds .hydra/ and train.log from the start);
- it deletes metrics.csv when it starts writing: a resumed run (ckpt_path=last hydra.run.dir=<run>) would lose
  the epochs before the resume. Those rows are written back at once, and the rows of epochs the resume runs again
  (logged after the checkpoint it resumes from) are dropped when the first new row is saved.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only


def _step(row: dict) -> float:
    try:
        return float(row.get("step") or "nan")
    except ValueError:
        return float("nan")


class RunCSVLogger(CSVLogger):
    """CSVLogger into `save_dir` itself (no name/version subdirectories), keeping a resumed run's earlier rows."""

    def __init__(self, save_dir: str, flush_logs_every_n_steps: int = 100) -> None:
        super().__init__(save_dir, name="", version="", flush_logs_every_n_steps=flush_logs_every_n_steps)
        self._resumed_rows: list[dict] = []
        if rank_zero_only.rank != 0:  # other DDP ranks write nothing (Lightning's own rule)
            return
        metrics_file = Path(self.log_dir) / "metrics.csv"
        earlier = []
        if metrics_file.is_file():
            with metrics_file.open(newline="") as file:
                earlier = list(csv.DictReader(file))
        # Only this directory's warning: the writer is created now, and the rows before a resume written back.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=f"Experiment logs directory {re.escape(self.log_dir)} exists")
            writer = self.experiment
        self._resumed_rows = earlier
        if earlier:
            writer.metrics = [{k: v for k, v in row.items() if v != ""} for row in earlier]
            writer.save()

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        """Saved at once: Lightning saves after its own calls, not after train.py's (the scaled test metrics)."""
        super().log_metrics(metrics, step)
        self.save()

    @rank_zero_only
    def save(self) -> None:
        writer = self.experiment
        if self._resumed_rows and writer.metrics:
            first = min(_step(row) for row in writer.metrics)
            stale = [row for row in self._resumed_rows if _step(row) >= first]
            if stale:  # epochs logged after the checkpoint the run resumed from: this run logs them again
                kept = [row for row in self._resumed_rows if _step(row) < first]
                with open(writer.metrics_file_path, "w", newline="") as file:
                    out = csv.DictWriter(file, fieldnames=writer.metrics_keys)
                    out.writeheader()
                    out.writerows(kept)
            self._resumed_rows = []
        super().save()
