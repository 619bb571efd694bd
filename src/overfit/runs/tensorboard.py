"""What a run leaves in TensorBoard: per-epoch scalars under the names the model logs, and its HPARAMS session.

TensorBoard, as measured with 2.21 (tests/test_tensorboard.py reads a logs dir through its HTTP API; docs/sweeps.md
shows the screenshots):
- Runs: the event files go straight into the run dir, so a TensorBoard run is named like its dir (0_baseline_s0).
- Scalars: one name per metric, the one the progress bar, metrics.json and compare use: train/loss, train/acc,
  val/loss, val/acc at step = epoch (1, 2, ...), val/auroc, val/ece, val/brier likewise; test/acc, test/loss,
  test/auroc, test/ece, test/brier and the temperature-scaled test/*_scaled, test/temperature once, at the epoch
  whose weights were tested (the early-stopping epoch for early_stopping); time/train_s and val/acc_best at the
  last epoch. Lightning's own TensorBoardLogger writes them (conf/logger/tensorboard.yaml). Time Series groups
  cards by the tag's first part (test, time, train, val) and opens the first two; train and val of one metric side
  by side: its filter `/(loss|acc)$`, or the Custom Scalars layout below (one chart per metric, train and val of
  every run overlaid, the Keras way).
- HPARAMS: each run writes its session (values, trial name); no experiment definition. TensorBoard then derives
  the tab from the sessions in view: every hyperparameter's filter lists the values of all the runs it shows
  (strings: a checkbox per value, numbers: an open interval), `differs` is computed over them, and the metric
  columns are the scalar tags in name order (test/acc first). A definition would fix the filters to one sweep's
  values: TensorBoard takes the first one it finds, whichever logs dir it is pointed at (until 2026-12-08 each
  sweep wrote one, in an event file ending .hparams: delete those, docs/sweeps.md#what-tensorboard-shows).
  TensorBoard sorts hyperparameters by name (differing ones first) and ticks the first five, so each name starts
  with its rank ("00 model.variant", "01 sweep", ...): what tells runs apart first. `sweep` (where the run lies)
  is no setting: it lets the filters pick a sweep, and sorting by it groups the rows by sweep. By default rows
  are sorted by trial name, the job number first, zero-padded (trial_name).
metrics.json and the printed summary: summary.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from torch.utils.tensorboard import FileWriter

# HPARAMS columns by rank: what tells runs apart first (TensorBoard ticks the first five that differ, in columns
# that show ~16 characters). The variant; the sweep (where it lies: sweep_label); the seed (rows of one sweep and
# variant differ by it alone); what sets a run apart from another of the same variant (2 or 20 epochs, the train
# subset); then the model. Missing (null) ones are skipped.
RANKED = (
    "model.variant",
    "sweep",
    "seed",
    "trainer.max_epochs",
    "data.train_size",
    "model.hidden",
    "model.dropout",
    "model.optimizer.weight_decay",
    "model.optimizer.lr",
    "model.optimizer._target_",
    "model.rank",
    "data.batch_size",
    "data.vocab_size",
    "trainer.max_steps",
)
HPARAM_KEYS = tuple(key for key in RANKED if key != "sweep")  # the config keys (hparams.yaml holds these)
RANKS = {key.removesuffix("._target_"): rank for rank, key in enumerate(RANKED)}
JOB_DIGITS = 3  # trial names' job numbers, zero-padded: rows sort 000, 001, ..., 010 (not 0, 1, 10, 11, ..., 2)
# Custom Scalars: train and val of every run in one chart per metric. Runs from before 2026-12-08 named their
# curves loss/train, acc/val, ...: matched too, so a logs dir holding both overlays both.
LAYOUT = {
    "train vs val (one chart per metric, as Keras)": {
        "loss": ["Multiline", [r"^(train|val)/loss$", r"^loss/(train|val)$"]],
        "accuracy": ["Multiline", [r"^(train|val)/acc$", r"^acc/(train|val)$"]],
    }
}


def short_key(key: str) -> str:
    return key.removesuffix("._target_")


def tb_name(key: str) -> str:
    """The HPARAMS name of a config key: its rank, then the key ("05 model.hidden")."""
    return f"{RANKS.get(key, 99):02d} {key}"


def run_hparams(cfg: DictConfig) -> dict:
    """{config key: value} of the HPARAMS keys, as the run's hparams.yaml holds them: optimizers by their name."""
    params = {}
    for key in HPARAM_KEYS:
        value = OmegaConf.select(cfg, key)
        if value is None:
            continue
        if key.endswith("_target_"):
            value = str(value).rsplit(".", 1)[-1]
        params[short_key(key)] = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    return params


def flat_hparams(cfg: DictConfig) -> dict:
    """run_hparams for TensorBoard, which takes only scalars and strings: lists become strings ("[16, 16]")."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in run_hparams(cfg).items()}


def trial_name(run_dir: Path) -> str:
    """HPARAMS' trial name, by which TensorBoard sorts the rows, in a column that shows its first ~16 characters:
    the job, zero-padded, with variant and seed, then where the run lies; unique across sweeps (same-named trials
    would be merged into one row). 3_small_s0 of sweep <time> -> "003_small_s0 · <time>" (a sweep's jobs in the
    order they ran; the `sweep` column groups them by sweep); a single run's dir <time>_big_s1 -> "big_s1 · <time>"."""
    stamped = re.match(r"^(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(?:-\d+)?)_(.+)$", run_dir.name)  # a single run's dir
    if stamped:
        return f"{stamped.group(2)} · {stamped.group(1)}"
    job = re.match(r"^(\d+)_(.+)$", run_dir.name)  # a sweep's job: <num>_<variant>_s<seed>
    name = f"{int(job.group(1)):0{JOB_DIGITS}d}_{job.group(2)}" if job else run_dir.name
    return f"{name} · {run_dir.parent.name}"


def sweep_label(run_dir: Path) -> str:
    """HPARAMS' `sweep`: the dir the run lies in, less a timestamp's year so that it fits the column: a sweep's
    2026-12-08_10-15-02 -> "12-08_10-15-02", an Optuna study's name, `runs` for single runs."""
    return re.sub(r"^\d{4}-(?=\d\d-\d\d_)", "", run_dir.parent.name)


def _hparams_summary(tag: str, **data) -> Summary:
    content = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **data).SerializeToString()
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=content))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def session_summaries(params: dict, trial: str) -> list[Summary]:
    """A run's session: start (hyperparameter values under their HPARAMS names, trial name) and end (success)."""
    start = plugin_data_pb2.SessionStartInfo(group_name=trial, start_time_secs=time.time())
    for key, value in params.items():
        field = (
            "bool_value"
            if isinstance(value, bool)
            else "number_value"
            if isinstance(value, (int, float))
            else "string_value"
        )
        setattr(start.hparams[tb_name(key)], field, value if field != "string_value" else str(value))
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    return [
        _hparams_summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
        _hparams_summary(metadata.SESSION_END_INFO_TAG, session_end_info=end),
    ]


class CurvesTensorBoardLogger(TensorBoardLogger):
    """The logger of runs started before 2026-12-08 (their recorded config names it, and a resume restores it):
    each split's epoch curves under metric/split tags, loss/train, acc/val, ..., so that a resumed run keeps the
    tags it began with. New runs use Lightning's TensorBoardLogger (conf/logger/tensorboard.yaml): the names the
    model logs. compare reads both (compare/runs.py)."""

    def log_metrics(self, metrics, step=None) -> None:
        tags = dict(metrics)
        for split in ("train", "val"):
            if f"{split}/loss" in tags and f"{split}/acc" in tags:  # the split's epoch record
                for kind in ("loss", "acc"):
                    tags[f"{kind}/{split}"] = tags.pop(f"{split}/{kind}")
        super().log_metrics(tags, step)


def keep_hparams(loggers: list, cfg: DictConfig) -> None:
    """The run's hyperparameters (run_hparams) into TensorBoardLogger's `hparams`, which Lightning writes to
    <run dir>/hparams.yaml when fit starts if there is no such file yet: called before fit, that write is all it
    costs. (Lightning's `log_hyperparams` would fill it too, but also write an HPARAMS session beside ours.)"""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.hparams.update(run_hparams(cfg))


def log_hparams(loggers: list, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """At the end of a run: time/train_s and val/acc_best at the last epoch, the HPARAMS session, the Keras-style
    layout, hparams.yaml. (Lightning's `log_hyperparams(params, metrics)` would also re-log every metric at step 0.)"""
    step = int(metrics.get("epoch", 0))  # the last epoch (logged by the model: 1-based)
    finals = {k: metrics[k] for k in ("time/train_s", "val/acc_best") if k in metrics}
    keep_hparams(loggers, cfg)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            # Lightning wrote hparams.yaml when fit started ({} unless keep_hparams ran before) and never rewrites
            # it; a resume may have changed trainer.max_epochs since. ~2 ms.
            save_hparams_to_yaml(Path(logger.log_dir) / logger.NAME_HPARAMS_FILE, logger.hparams)
            logger.log_metrics(finals, step=step)
            # SummaryWriter.file_writer: public (torch's own add_hparams writes its summaries through it). Lightning
            # closed it when fit and test ended (None then) and the add_scalar of the finals above reopened it, into
            # a new event file; with no finals to log the session gets a file of its own.
            writer = logger.experiment.file_writer or FileWriter(logger.log_dir)
            run_dir = Path(logger.log_dir)
            params = {**flat_hparams(cfg), "sweep": sweep_label(run_dir)}
            for summary in session_summaries(params, trial_name(run_dir)):
                writer.add_summary(summary)
            if "val/acc" in metrics:  # a run with train and val curves (not the factorization)
                logger.experiment.add_custom_scalars(LAYOUT)
            logger.experiment.flush()
            if writer is not logger.experiment.file_writer:
                writer.close()
