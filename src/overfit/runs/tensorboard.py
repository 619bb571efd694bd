"""What a run leaves in TensorBoard: per-epoch scalars, its HPARAMS session and the sweep's HPARAMS definition.

TensorBoard, as measured with 2.21 (tests/test_tensorboard.py reads a sweep through its HTTP API):
- Runs: the event files go straight into the run dir, so a TensorBoard run is named like its dir (0_baseline_s0).
- Scalars: per-epoch ones at step = epoch (1, 2, ...), named metric/split: loss/train, loss/val, acc/train, acc/val.
  Time Series groups cards by the tag's first part and opens the first two groups (acc, loss): the landing page
  shows train and val side by side, every run in each chart. test/acc and test/loss are written once, at the
  epoch whose weights were tested (the early-stopping epoch for early_stopping), with test/auroc, test/ece,
  test/brier and the temperature-scaled test/*_scaled, test/temperature; val/auroc, val/ece, val/brier are
  per-epoch curves under their own names; time/train_s and val/acc_best
  at the last epoch. A Custom Scalars layout overlays train and val of a run in one chart (the Keras way).
  The model logs its curves through Lightning (train/loss, ... at step = epoch: models/mlp.py), as every logger
  gets them; CurvesTensorBoardLogger, conf/logger/tensorboard.yaml's logger, files them under metric/split.
- HPARAMS: TensorBoard sorts hyperparameters by name (differing ones first) and ticks the first five, so each name
  starts with its rank ("00 model.variant", "01 seed", ...). Each run writes its session (values, trial name); a
  sweep writes ONE experiment definition (sweep_hparams.py, into its first run's dir), naming what differs and the
  metric columns (test acc, test loss first). Without one (single runs) TensorBoard derives it from the sessions;
  with several (a logs dir of sweeps) it takes the first it finds: the columns of that sweep, every sweep's rows.
metrics.json and the printed summary: summary.py.
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from torch.utils.tensorboard import FileWriter

# HPARAMS columns, most telling first: (config key, column title). Missing (null) ones are skipped.
HPARAMS = (
    ("model.variant", "variant"),
    ("seed", "seed"),
    ("data.train_size", "train size"),
    ("model.hidden", "hidden"),
    ("model.dropout", "dropout"),
    ("model.optimizer.weight_decay", "weight decay"),
    ("model.optimizer.lr", "lr"),
    ("model.optimizer._target_", "optimizer"),
    ("model.rank", "rank"),
    ("data.batch_size", "batch size"),
    ("data.vocab_size", "vocab size"),
    ("trainer.max_epochs", "max epochs"),
    ("trainer.max_steps", "max steps"),
)
HPARAM_KEYS = tuple(key for key, _ in HPARAMS)
TITLES = {key.removesuffix("._target_"): title for key, title in HPARAMS}
# A sweep's metric columns, in this order (TensorBoard shows the first five): (scalar tag, column title).
METRICS = (
    ("test/acc", "test acc"),
    ("test/loss", "test loss"),
    ("test/ece", "test ECE"),
    ("val/acc_best", "best val acc"),
    ("loss/val", "val loss (last epoch)"),
    ("acc/val", "val acc (last epoch)"),
    ("loss/train", "train loss (last epoch)"),
    ("acc/train", "train acc (last epoch)"),
    ("time/train_s", "fit time (s)"),
    ("test/auroc", "test AUROC"),
    ("test/brier", "test Brier"),
    ("test/ece_scaled", "test ECE at T"),
    ("test/loss_scaled", "test loss at T"),
    ("test/temperature", "temperature T"),
    ("val/ece", "val ECE (last epoch)"),
)
LAYOUT = {
    "train vs val (one chart per metric, as Keras)": {
        "loss": ["Multiline", [r"^loss/(train|val)$"]],
        "accuracy": ["Multiline", [r"^acc/(train|val)$"]],
    }
}
_FLOAT, _STRING, _BOOL = api_pb2.DATA_TYPE_FLOAT64, api_pb2.DATA_TYPE_STRING, api_pb2.DATA_TYPE_BOOL


def short_key(key: str) -> str:
    return key.removesuffix("._target_")


def tb_name(key: str) -> str:
    """The HPARAMS name of a config key: its rank, then the key ("03 model.hidden")."""
    return f"{list(TITLES).index(key) if key in TITLES else 99:02d} {key}"


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
    """HPARAMS' trial name: variant and seed first (the column is narrow), unique across sweeps (same-named
    trials would be merged into one row). 3_small_s0 in sweep <time> -> "3_small_s0 · <time>"."""
    stamped = re.match(r"^(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(?:-\d+)?)_(.+)$", run_dir.name)  # a single run's dir
    return f"{stamped.group(2)} · {stamped.group(1)}" if stamped else f"{run_dir.name} · {run_dir.parent.name}"


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


def _natural(value) -> tuple:
    """Domain order: "[4, 4]" before "[16, 16]" (lists by their numbers), then text."""
    try:
        return (0, ast.literal_eval(value), "")
    except (ValueError, SyntaxError, TypeError):
        return (1, (), str(value))


def experiment_summary(values: dict[str, list], intervals: dict[str, tuple]) -> Summary:
    """The HPARAMS definition of a sweep: every hyperparameter its runs take (`values`: key -> one value per run;
    `intervals`: key -> (low, high) of a continuous search), which of them differ, and METRICS."""
    infos = []
    for key in map(short_key, HPARAM_KEYS):
        seen = values.get(key, [])
        if not seen and key not in intervals:
            continue
        info = api_pb2.HParamInfo(
            name=tb_name(key), display_name=TITLES[key], differs=key in intervals or len({repr(v) for v in seen}) > 1
        )
        numbers = [v for v in seen if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if key in intervals or (numbers and len(numbers) == len(seen)):
            low, high = intervals.get(key, (min(numbers or [0]), max(numbers or [0])))
            info.type, info.domain_interval.min_value, info.domain_interval.max_value = _FLOAT, low, high
        elif all(isinstance(v, bool) for v in seen):
            info.type = _BOOL
            info.domain_discrete.extend(sorted(set(seen)))
        else:
            info.type = _STRING
            info.domain_discrete.extend(sorted({str(v) for v in seen}, key=_natural))
        infos.append(info)
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=title) for tag, title in METRICS]
    return _hparams_summary(
        metadata.EXPERIMENT_TAG, experiment=api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    )


class CurvesTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, with each split's epoch curves under metric/split tags: a record holding a
    split's loss and accuracy (train/loss and train/acc, as models/mlp.py logs them once an epoch) is written as
    loss/train, acc/train; val likewise. Anything else keeps its name: test/*, train/acc_eval, and records without
    a split's accuracy, such as the factorization's per-step train/loss and train/gap (its tags stay as they were).
    Other loggers (CSVLogger, MLflow, ...) get the names the model logs."""

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
            for summary in session_summaries(flat_hparams(cfg), trial_name(Path(logger.log_dir))):
                writer.add_summary(summary)
            if "val/acc" in metrics:  # a run with train and val curves (not the factorization)
                logger.experiment.add_custom_scalars(LAYOUT)
            logger.experiment.flush()
            if writer is not logger.experiment.file_writer:
                writer.close()
