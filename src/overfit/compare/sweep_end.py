"""A sweep ends with its comparison: what `python scripts/compare.py <sweep dir>` writes and prints, done for you.

    python train.py -m model=baseline,dropout seed=0,1     # ... then, once every job has ended:
    comparison of 4 runs in logs/multiruns/<time>: seeds pooled (mean ± 95% CI)
    | variant | n | test acc % | ...
    wrote 9 figures and comparison.md, comparison.csv, pooled.md, pooled.csv to logs/multiruns/<time>/comparison

A Hydra callback (conf/hydra/default.yaml: hydra.callbacks.compare), run by the process that launched the sweep
once all its jobs are done, the SLURM launcher's included. It never fails the sweep: a sweep whose runs cannot be
compared (every job failed, a search whose trials were pruned) gets one line saying so. Off for an Optuna search
(conf/hparams_search/optuna.yaml: its own report, optimization_results.yaml, is the summary there), or with
`hydra.callbacks.compare.enabled=false`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from overfit.errors import OverfitError

log = logging.getLogger(__name__)


class CompareWhenSweepEnds(Callback):
    def __init__(self, enabled: bool = True, reference: str = "baseline") -> None:
        self.enabled, self.reference = enabled, reference

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if not self.enabled:
            return
        sweep = Path(config.hydra.sweep.dir)
        try:
            print(self.compare(sweep), flush=True)
        except OverfitError as err:  # nothing usable under the sweep dir: said, and the sweep's exit code stands
            print(f"no comparison of {sweep}: {err}", flush=True)

    def compare(self, sweep: Path) -> str:
        """Write <sweep>/comparison/ and return what to print: the pooled table and where everything went."""
        from overfit.compare import load_runs, pooled_markdown, write_comparison  # matplotlib: at the end only

        runs = load_runs(sweep)
        written = write_comparison(runs, sweep / "comparison", reference=self.reference)
        tables = [p.name for p in written["tables"]]
        figures = sum(1 for f in written["figures"] if f)
        lines = [f"comparison of {len(runs)} runs in {sweep}: seeds pooled (mean ± 95% CI)"]
        lines.append(pooled_markdown(written["pooled"], self.reference).rstrip())
        lines += [f"warning: {w}" for w in written["warnings"]]
        lines.append(f"wrote {figures} figures and {', '.join(tables)} to {sweep / 'comparison'}")
        return "\n".join(lines)
