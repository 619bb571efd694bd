"""Compare finished runs from their TensorBoard event files alone (no retraining): figures + tables.

    runs = load_runs("logs/multiruns/<time>")          # every dir under it holding events.out.tfevents.*
    runs.warnings                                       # what could not be read, one line each, naming the file
    pool_runs(runs)                                     # the pooled table (seeds pooled) as a list of dicts
    write_comparison(runs, "logs/multiruns/<time>/comparison")

`scripts/compare.py` is the command-line entry point. A run is a dir holding event files (its run dir; older runs:
its tensorboard/ subdir). Its variant and seed come from the HPARAMS session that `overfit.tracking.log_hparams`
writes (names carry a rank, "00 model.variant", which is dropped here; falling back to the run dir's name).
Curves are loss/train, acc/train, loss/val, acc/val at step = epoch (1-based), named train/loss ... here; test/acc
sits at the epoch whose weights were tested (`Run.test_epoch`: the early-stopping epoch). Older files (per-step
train/loss ...) map each step to Lightning's `epoch` scalar logged at the same step. A dir holding only a sweep's
HPARAMS definition (tracking.SweepHParams puts it in the first run's dir, or in the sweep dir when that is not known
at the start, as with Optuna) is no run and is skipped.

Figures: per run (train vs val, the tested epoch marked), baseline vs each variant, all variants together
(val_all_variants*.png: one colour per variant, one line style and marker per seed, the tested epoch starred where
it is not the last one), pooled curves and, for sweeps of train size or width, test acc and gap against them.

Damaged files. TensorBoard's own readers (EventAccumulator, EventFileLoader) stop at the first bad record of a
file without a word (a debug-level log line): a file truncated mid-record, a corrupted CRC or garbage appended
all read as a shorter, valid-looking run. So the records are read here (`read_records`), checking the length
and both CRCs of each; what could not be read becomes a `Problem`, named with its file, in `runs.warnings`, in
the run's `problems` (a column of both tables) and in warnings.txt next to the tables. A record whose length
checks but whose data fails its CRC is skipped and reading goes on; a length that fails its CRC (corruption
or appended garbage) ends the file.

Pooling. Runs that differ only in `seed` (every other HPARAMS key equal, `data.train_size` included) form one
row of the pooled table: n, the seeds, and for each of test acc, test loss, best val acc, min val loss and
the generalization gap a mean and the half-width of its 95% t-interval (`overfit.stats.mean_ci95`; n = 1: no
interval). The gap is train acc - val acc at the last epoch that logged both (train acc is the running
accuracy over the epoch's training batches, in training mode, i.e. with dropout on). Each non-baseline row
also gets the paired difference test acc(variant, seed) - test acc(baseline, same seed), over the seeds both
have, against the baseline row with the same data/trainer settings and the same swept model settings.
"""

from __future__ import annotations

import ast
import csv
import logging
import math
import re
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c  # noqa: E402
from tensorboard.plugins.hparams import metadata, plugin_data_pb2  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from overfit.errors import OverfitError  # noqa: E402
from overfit.stats import mean_ci95  # noqa: E402

VARIANTS = ("baseline", "small", "big", "l2", "dropout", "early_stopping")  # the notebook's order
REFERENCE = "baseline"
CURVES = ("train/loss", "train/acc", "val/loss", "val/acc")
EPOCH_TAGS = {"loss/train": "train/loss", "acc/train": "train/acc", "loss/val": "val/loss", "acc/val": "val/acc"}
RANKED = re.compile(r"^\d\d (\S.*)$")  # an HPARAMS name with its rank (overfit.tracking.tb_name)
SEED_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"), ((0, (1, 3)), "P"))
FINALS = ("test/loss", "test/acc", "time/train_s", "val/acc_best")
TESTS = ("test/loss", "test/acc")
COLUMNS = (
    "run",
    "variant",
    "seed",
    "epochs",
    "best_val_acc",
    "best_val_epoch",
    "final_val_loss",
    "min_val_loss",
    "gap",
    "test_loss",
    "test_acc",
    "tested_epoch",
    "train_s",
    "problems",
)
POOLED = ("test_acc", "test_loss", "best_val_acc", "min_val_loss", "gap")  # per-run row keys pooled over seeds
SEED, VARIANT, TRAIN_SIZE, HIDDEN = "seed", "model.variant", "data.train_size", "model.hidden"
logging.getLogger("tensorboard").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Problem:
    """Something that could not be read or is missing: `short` goes into the tables, `str()` into warnings."""

    path: Path  # the event file (or the run's event dir) it is about
    short: str  # e.g. "event file truncated"
    detail: str  # e.g. "truncated mid-record at byte 1234 of 2000: ..."

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


class Runs(list):
    """`load_runs`' list of `Run`s, with what went wrong while reading them."""

    def __init__(self, runs=(), problems: list[Problem] | None = None):
        super().__init__(runs)
        self.problems = list(problems or [])

    @property
    def warnings(self) -> list[str]:
        return [str(p) for p in self.problems]


@dataclass
class Run:
    path: Path  # the dir holding the event files
    name: str  # the run dir's name, e.g. 3_l2
    hparams: dict = field(default_factory=dict)  # from the HPARAMS summary
    curves: dict = field(default_factory=dict)  # tag -> {epoch (1-based): value}
    finals: dict = field(default_factory=dict)  # tag -> last value
    label: str = ""
    problems: list = field(default_factory=list)  # Problem: damaged files, missing summary or metrics
    test_epoch: int | None = None  # the epoch (1-based) whose weights were tested, if logged
    sweep_definition: bool = False  # the dir holds only a sweep's HPARAMS definition: no run

    @property
    def variant(self) -> str:
        if self.hparams.get(VARIANT):
            return str(self.hparams[VARIANT])
        # No HPARAMS summary (a crashed run): the run dir ends with its variant, e.g. 3_l2, <time>_dropout.
        return next((v for v in sorted(VARIANTS, key=len, reverse=True) if self.name.endswith(v)), self.name)

    @property
    def seed(self):
        return _plain(self.hparams.get(SEED))

    @property
    def restored_epoch(self) -> int | None:
        """The tested epoch when it is not the last one trained (early stopping restored the best weights)."""
        last = max(self.curves.get("val/loss") or self.curves.get("train/loss") or {0: 0})
        return self.test_epoch if self.test_epoch is not None and 0 < self.test_epoch < last else None

    @property
    def poolable(self) -> bool:
        """Enough to pool: an HPARAMS summary (what to group by) and the test metrics."""
        return bool(self.hparams) and all(t in self.finals for t in TESTS)

    def row(self) -> dict:
        val_acc = self.curves.get("val/acc", {})
        best_epoch = max(val_acc, key=lambda e: (val_acc[e], -e)) if val_acc else None  # first epoch of the max
        val_loss, train_acc = self.curves.get("val/loss", {}), self.curves.get("train/acc", {})
        both = set(train_acc) & set(val_acc)
        return {
            "run": self.label,
            "variant": self.variant,
            "seed": self.seed,
            "epochs": len(self.curves.get("train/loss") or val_loss),
            "best_val_acc": val_acc[best_epoch] if val_acc else math.nan,
            "best_val_epoch": best_epoch,
            "final_val_loss": val_loss[max(val_loss)] if val_loss else math.nan,
            "min_val_loss": min(val_loss.values()) if val_loss else math.nan,
            "gap": train_acc[max(both)] - val_acc[max(both)] if both else math.nan,
            "test_loss": self.finals.get("test/loss", math.nan),
            "test_acc": self.finals.get("test/acc", math.nan),
            "tested_epoch": self.test_epoch,
            "train_s": self.finals.get("time/train_s", math.nan),
            "problems": "; ".join(dict.fromkeys(p.short for p in self.problems)),
        }


# ---------------------------------------------------------------------------------------------- reading


def read_records(path: Path) -> tuple[list[bytes], list[Problem]]:
    """The records of a TFRecord file (an event file) and what could not be read.

    A record is: length (uint64 LE), masked CRC-32C of the length, data, masked CRC-32C of the data.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return [], [Problem(path, "event file unreadable", f"could not be read ({err.strerror or err})")]
    size, pos, records, problems = len(data), 0, [], []
    if size == 0:
        return [], [Problem(path, "empty event file", "empty event file (0 bytes): nothing could be read")]
    while pos < size:
        left = size - pos
        if left < 12:
            problems.append(
                Problem(
                    path,
                    "event file truncated",
                    f"truncated mid-record: the last {left} byte(s) (from byte {pos} of {size}) are "
                    f"an incomplete record header; {len(records)} record(s) read before it",
                )
            )
            break
        header = data[pos : pos + 8]
        if masked_crc32c(header) != struct.unpack("<I", data[pos + 8 : pos + 12])[0]:
            problems.append(
                Problem(
                    path,
                    "unreadable bytes in event file",
                    f"bytes {pos}-{size} of {size} could not be read (a record length fails its CRC: "
                    f"corrupted data or garbage appended); {len(records)} record(s) read before them",
                )
            )
            break
        length = struct.unpack("<Q", header)[0]
        end = pos + 12 + length + 4
        if end > size:
            problems.append(
                Problem(
                    path,
                    "event file truncated",
                    f"truncated mid-record: the record at byte {pos} needs {12 + length + 4} bytes, "
                    f"only {left} are left (file size {size}); {len(records)} record(s) read "
                    "before it",
                )
            )
            break
        body = data[pos + 12 : pos + 12 + length]
        if masked_crc32c(body) != struct.unpack("<I", data[end - 4 : end])[0]:
            problems.append(
                Problem(
                    path,
                    "corrupt record skipped",
                    f"the record at byte {pos} ({length} bytes) fails its data CRC: skipped, "
                    "reading went on with the next one",
                )
            )
        else:
            records.append(body)
        pos = end
    return records, problems


def read_events(path: Path) -> tuple[list[event_pb2.Event], list[Problem]]:
    records, problems = read_records(path)
    events = []
    for i, record in enumerate(records):
        try:
            events.append(event_pb2.Event.FromString(record))
        except DecodeError:
            problems.append(Problem(path, "corrupt record skipped", f"record {i} is not an Event: skipped"))
    return events, problems


def _scalar(value, scalar_tags: set) -> float | None:
    """A summary value's number: TF1-style simple_value or a TF2-style scalar tensor (scalars plugin)."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        if value.metadata.plugin_data.plugin_name == "scalars":  # TF2 writers set it on a tag's first value only
            scalar_tags.add(value.tag)
        if value.tag in scalar_tags:
            array = tensor_util.make_ndarray(value.tensor)
            if array.size == 1 and array.dtype.kind in "fiub":
                return float(array.item())
    return None


def _parse_hparams(content: dict) -> tuple[dict, list[str]]:
    params, metrics = {}, []
    if "_hparams_/session_start_info" in content:
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        for key, value in start.session_start_info.hparams.items():
            ranked = RANKED.match(key)
            params[ranked.group(1) if ranked else key] = (
                getattr(value, value.WhichOneof("kind")) if value.WhichOneof("kind") else None
            )
    if "_hparams_/experiment" in content:
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        metrics = [info.name.tag for info in experiment.metric_infos]
    return params, metrics


def read_hparams(source) -> tuple[dict, list[str]]:
    """(hyperparameters, metric tags) of the HPARAMS summary: what TensorBoard's HPARAMS tab shows.

    `source`: an EventAccumulator (after Reload) or the hparams plugin's {tag: content bytes}."""
    if isinstance(source, dict):
        return _parse_hparams(source)
    try:
        content = source.PluginTagToContent("hparams")
    except KeyError:  # no HPARAMS summary (e.g. a run that crashed before its end)
        content = {}
    return _parse_hparams(content)


def load_run(event_dir: Path) -> Run:
    """One run from the event files in `event_dir` (read in name order, as TensorBoard does)."""
    event_dir = Path(event_dir)
    name = event_dir.parent.name if event_dir.name == "tensorboard" else event_dir.name
    run = Run(path=event_dir, name=name)
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)  # tag -> [(step, value)] in file order
    hparams_content, scalar_tags = {}, set()
    files = sorted(p for p in event_dir.iterdir() if p.is_file() and "tfevents" in p.name)
    for path in files:
        events, problems = read_events(path)
        run.problems += problems
        for event in events:
            if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
                for tag in series:  # a restart: what was logged after its step is orphaned (as in TensorBoard)
                    series[tag] = [(s, v) for s, v in series[tag] if s < event.step]
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    hparams_content[value.tag] = value.metadata.plugin_data.content
                    continue
                number = _scalar(value, scalar_tags)
                if number is not None:
                    series[value.tag].append((event.step, number))
    try:
        run.hparams, _ = _parse_hparams(hparams_content)
    except DecodeError:
        run.problems.append(Problem(event_dir, "HPARAMS unreadable", "the HPARAMS summary could not be parsed"))
    step_epoch = {}
    for step, value in series.get("epoch", []):
        step_epoch.setdefault(step, int(value))  # first value: the train/val logs of that step
    for tag in CURVES:  # older files: per-step tags; a step without an epoch entry would be a foreign writer: skip it
        if tag in series:
            run.curves[tag] = {step_epoch[s] + 1: v for s, v in series[tag] if s in step_epoch}
    for tb_tag, tag in EPOCH_TAGS.items():  # step = epoch
        if series.get(tb_tag):
            run.curves[tag] = {s: v for s, v in series[tb_tag] if s >= 1}
    for tag in FINALS:
        if series.get(tag):
            run.finals[tag] = series[tag][-1][1]
    if series.get("test/acc") and any(series.get(t) for t in EPOCH_TAGS):
        run.test_epoch = series["test/acc"][-1][0]
    run.sweep_definition = (
        not series
        and metadata.EXPERIMENT_TAG in hparams_content
        and metadata.SESSION_START_INFO_TAG not in hparams_content
    )
    if run.curves:  # a dir without any curve is skipped as a whole by load_runs
        if not run.hparams:
            run.problems.append(
                Problem(
                    event_dir,
                    "no HPARAMS summary",
                    f"no HPARAMS summary (a crashed or unfinished run?): variant '{run.variant}' "
                    "guessed from the dir name, seed unknown; left out of the pooled table",
                )
            )
        missing = [t for t in TESTS if t not in run.finals]
        if missing:
            run.problems.append(
                Problem(
                    event_dir,
                    "no test metrics",
                    f"no {', '.join(missing)} (the run ended before testing?): shown as '-', "
                    "left out of the pooled table",
                )
            )
        for tag in CURVES:
            if not run.curves.get(tag):
                run.problems.append(Problem(event_dir, f"no {tag} curve", f"no {tag} curve"))
    return run


def load_runs(root: str | Path) -> Runs:
    """Every run under `root` (a run dir, a sweep dir or a whole logs dir), labelled and in the notebook's order.

    What could not be read is in `.problems` / `.warnings` (and each run's `.problems`); nothing usable at all
    is an OverfitError naming every file and what was wrong with it."""
    root = Path(root)
    if not root.is_dir():
        raise OverfitError(f"{root}: no such directory; pass a sweep dir (logs/multiruns/<time>) or a logs dir")
    event_dirs = sorted({p.parent for p in root.rglob("events.out.tfevents.*") if "comparison" not in p.parts})
    runs, problems = [], []
    for run in map(load_run, event_dirs):
        if run.sweep_definition and not run.problems:
            continue
        problems += run.problems
        if run.curves:
            runs.append(run)
        else:
            problems.append(Problem(run.path, "no curves", "no train/val curves could be read: run skipped"))
    if not runs:
        if problems:
            raise OverfitError(f"{root}: no usable runs: " + "; ".join(str(p) for p in problems))
        raise OverfitError(
            f"{root}: no TensorBoard runs found (no events.out.tfevents.* with train/val curves); "
            "pass a sweep dir such as logs/multiruns/<time> or a logs dir"
        )
    swept = swept_keys(runs)
    runs.sort(key=lambda r: (_variant_order(r.variant), _sweep_order(r.hparams, swept), str(r.seed), r.name))
    base = {id(r): _group_label(r.variant, r.hparams, swept) if r.hparams else r.variant for r in runs}
    for run in runs:  # several runs of one group (seeds, repeats): label them apart
        same = [r for r in runs if base[id(r)] == base[id(run)]]
        same_seed = [r for r in same if r.seed == run.seed]
        run.label = (
            base[id(run)]
            if len(same) == 1
            else (
                f"{base[id(run)]} seed {run.seed}"
                if len(same_seed) == 1 and run.seed is not None
                else f"{base[id(run)]} ({run.name})"
            )
        )
    return Runs(runs, problems)


# ---------------------------------------------------------------------------------------------- pooling


def _plain(value):
    """1.0 -> 1 (HPARAMS stores every number as a double); anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _variant_order(variant: str) -> tuple:
    return (VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS), variant)


def _sort_value(value) -> tuple:
    """Numbers by value, hidden sizes ("[16, 16]") by width, then anything else as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    width = _width(value)
    return (0, float(width), str(value)) if width is not None else (1, 0.0, str(value))


def _sweep_order(hparams: dict, swept: list[str]) -> tuple:
    return tuple(_sort_value(hparams.get(k)) for k in swept)


def _width(hidden) -> int | None:
    """The first hidden layer's width from `model.hidden` ("[16, 16]", a list or a number)."""
    if isinstance(hidden, str):
        try:
            hidden = ast.literal_eval(hidden)
        except (ValueError, SyntaxError):
            return None
    if isinstance(hidden, (list, tuple)):
        hidden = hidden[0] if hidden else None
    return int(hidden) if isinstance(hidden, (int, float)) and not isinstance(hidden, bool) else None


def swept_keys(runs: list[Run]) -> list[str]:
    """HPARAMS keys (but seed and variant) taking more than one value within some variant: what a sweep varied.

    Keys that only differ between variants (model.hidden of small vs big) are part of the variants."""
    values = defaultdict(set)
    with_hparams = [r for r in runs if r.hparams]
    keys = {k for r in with_hparams for k in r.hparams} - {SEED, VARIANT}
    for run in with_hparams:
        for key in keys:
            values[(run.variant, key)].add(repr(run.hparams.get(key)))
    return sorted({key for (_, key), seen in values.items() if len(seen) > 1}, key=_key_order)


def _key_order(key: str) -> tuple:
    return (key != TRAIN_SIZE, key != HIDDEN, key)  # train size first, then width, then by name


def _short(key: str, swept: list[str]) -> str:
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in swept) == 1 else key


def _fmt_value(value) -> str:
    value = _plain(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _group_label(variant: str, hparams: dict, swept: list[str]) -> str:
    parts = [f"{_short(k, swept)}={_fmt_value(hparams.get(k))}" for k in swept]
    return variant + (" " + " ".join(parts) if parts else "")


@dataclass
class _Group:
    row: dict
    runs: list
    hparams: dict


def _groups(runs: list[Run], reference: str = REFERENCE, warnings: list | None = None) -> tuple[list, list]:
    """(pooled groups in table order, swept keys) of the runs that can be pooled."""
    pool = [r for r in runs if r.poolable]
    swept = swept_keys(pool)
    by_key = defaultdict(list)
    for run in pool:
        by_key[tuple(sorted((k, repr(v)) for k, v in run.hparams.items() if k != SEED))].append(run)
    groups = []
    for members in by_key.values():
        members.sort(key=lambda r: (str(r.seed), r.name))
        hparams = {k: v for k, v in members[0].hparams.items() if k != SEED}
        variant = members[0].variant
        rows = [r.row() for r in members]
        row = {"group": _group_label(variant, hparams, swept), "variant": variant}
        row.update({k: _plain(v) for k, v in sorted(hparams.items()) if k != VARIANT})
        seeds = [r.seed for r in members]
        row.update(n=len(members), seeds=seeds)
        for metric in POOLED:
            _, row[f"{metric}_mean"], row[f"{metric}_ci95"] = mean_ci95(x[metric] for x in rows)
        row.update(test_acc_diff_mean=math.nan, test_acc_diff_ci95=math.nan, n_paired=0, paired_seeds=[])
        notes = []
        repeated = sorted({str(s) for s in seeds if seeds.count(s) > 1})
        if repeated:
            notes.append(f"seed {', '.join(repeated)} more than once: not paired")
            if warnings is not None:
                warnings.append(
                    f"pooled row '{row['group']}': seed {', '.join(repeated)} more than once "
                    f"({', '.join(str(r.path) for r in members if str(r.seed) in repeated)}); "
                    "pooled, but not paired with the baseline"
                )
        damaged = [r.label for r in members if r.problems]
        if damaged:
            notes.append("pools runs with problems: " + ", ".join(damaged))
        row["runs"] = [r.label for r in members]
        row["problems"] = "; ".join(notes)
        groups.append(_Group(row, members, hparams))
    groups.sort(key=lambda g: (_variant_order(g.row["variant"]), _sweep_order(g.hparams, swept)))

    # Paired differences: the baseline group run with the same data/trainer settings (every non-model key) and
    # the same swept model settings; model keys that only differ between variants are what the variant changes.
    keys = {k for g in groups for k in g.hparams} - {SEED, VARIANT}
    match = sorted(k for k in keys if not k.startswith("model.") or k in swept)
    signature = lambda g: tuple(repr(g.hparams.get(k)) for k in match)  # noqa: E731
    references = defaultdict(list)
    for g in groups:
        if g.row["variant"] == reference:
            references[signature(g)].append(g)
    for g in groups:
        refs = references.get(signature(g), [])
        if g.row["variant"] == reference or len(refs) != 1:
            continue
        mine, theirs = _by_seed(g.runs), _by_seed(refs[0].runs)
        seeds = sorted((s for s in mine if s in theirs and len(mine[s]) == 1 == len(theirs[s])), key=str)
        diffs = [mine[s][0].finals["test/acc"] - theirs[s][0].finals["test/acc"] for s in seeds]
        n, g.row["test_acc_diff_mean"], g.row["test_acc_diff_ci95"] = mean_ci95(diffs)
        g.row.update(n_paired=n, paired_seeds=seeds)
    return groups, swept


def _by_seed(runs: list[Run]) -> dict:
    out = defaultdict(list)
    for run in runs:
        out[run.seed].append(run)
    return out


def pool_runs(runs: list[Run], reference: str = REFERENCE, warnings: list | None = None) -> list[dict]:
    """The pooled table as plain dicts, one per (variant, swept values), in table order.

    Runs are pooled when every HPARAMS key but `seed` is equal (runs without an HPARAMS summary or test metrics
    are left out: load_runs warned about them). Each dict: group (label), variant, the HPARAMS values, n, seeds,
    <m>_mean and <m>_ci95 for m in POOLED (ci95: half-width of the 95% t-interval, NaN for n = 1),
    test_acc_diff_mean / test_acc_diff_ci95 / n_paired / paired_seeds (test acc minus the `reference` run of the
    same seed; NaN and 0 where no reference run matches), runs (labels) and problems (text, "" if none).
    Warnings about the pooling itself (a seed twice in a group) are appended to `warnings` if given."""
    return [g.row for g in _groups(runs, reference, warnings)[0]]


# ---------------------------------------------------------------------------------------------- figures


def _plot(ax, series: dict, style: str, label: str, **kwargs) -> None:
    epochs = sorted(series)
    fmt = () if "linestyle" in kwargs else (style,)
    ax.plot(epochs, [series[e] for e in epochs], *fmt, label=label, **kwargs)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not 0.96 ... 1.04


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _seed_style(run: Run, runs: list[Run]) -> dict:
    """Line style and marker of a run's seed (its rank among the seeds of `runs`): seeds apart in one colour."""
    seeds = sorted({str(r.seed) for r in runs})
    linestyle, marker = SEED_STYLES[seeds.index(str(run.seed)) % len(SEED_STYLES)]
    return {"linestyle": linestyle, "marker": marker, "markersize": 4}


def _mark_restored(ax, run: Run, tag: str, color) -> None:
    """A star on `tag`'s curve at the epoch early stopping restored (the tested weights), if not the last."""
    epoch = run.restored_epoch
    if epoch is not None and epoch in run.curves.get(tag, {}):
        ax.plot([epoch], [run.curves[tag][epoch]], "*", color=color, markersize=14, markeredgecolor="black", zorder=5)


def plot_run(run: Run, out: Path) -> Path:
    """The notebook's per-run figure: training vs validation, loss and accuracy per epoch, and the test result at
    the epoch whose weights were tested (a dotted line where early stopping restored an earlier epoch)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "acc")):
        _plot(ax, run.curves.get(f"train/{metric}", {}), "bo-", "training")
        _plot(ax, run.curves.get(f"val/{metric}", {}), "r^-", "validation")
        if run.test_epoch is not None and f"test/{metric}" in run.finals:
            ax.plot(
                [run.test_epoch],
                [run.finals[f"test/{metric}"]],
                "g*",
                markersize=12,
                label=f"test (weights of epoch {run.test_epoch})",
            )
        if run.restored_epoch is not None:
            ax.axvline(run.restored_epoch, color="gray", linestyle=":", linewidth=1)
        ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "loss")
        ax.set_title(f"{run.label}: training and validation {'accuracy' if metric == 'acc' else 'loss'}", fontsize=10)
        ax.legend(fontsize=8)
    return _save(fig, out / f"curves_{_slug(run.label)}.png")


def plot_pair(runs: list[Run], reference: str, other: str, tag: str, out: Path) -> Path | None:
    """`tag` of every `reference` run (blue) against every `other` run (red); seeds by line style and marker."""
    ref, oth = [r for r in runs if r.variant == reference], [r for r in runs if r.variant == other]
    if not ref or not oth:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for group, color in ((ref, "tab:blue"), (oth, "tab:red")):
        for run in group:
            _plot(ax, run.curves.get(tag, {}), "-", run.label, color=color, **_seed_style(run, ref + oth))
            _mark_restored(ax, run, tag, color)
    kind = "validation" if tag.startswith("val/") else "training"
    ax.set(xlabel="epoch", ylabel=f"{kind} loss", title=f"{reference} vs {other}: {kind} loss")
    ax.legend(fontsize=7)
    return _save(fig, out / f"{tag.split('/')[0]}_loss_{reference}_vs_{other}.png")


def plot_all_variants(runs: list[Run], swept: list[str], out: Path) -> list[Path]:
    """Validation loss and accuracy of every run in one figure (one per combination of the swept values): one colour
    per variant, one line style and marker per seed, a star at the epoch early stopping restored."""
    from matplotlib.lines import Line2D

    parts = defaultdict(list)
    for run in runs:
        parts[tuple((k, _fmt_value(run.hparams.get(k))) for k in swept)].append(run)
    paths = []
    for part, members in parts.items():
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, tag, name in zip(axes, ("val/loss", "val/acc"), ("validation loss", "validation accuracy")):
            for run in members:
                _plot(
                    ax,
                    run.curves.get(tag, {}),
                    "-",
                    run.label,
                    color=_color(run.variant),
                    **_seed_style(run, members),
                    linewidth=1.2,
                )
                _mark_restored(ax, run, tag, _color(run.variant))
            ax.set(xlabel="epoch", ylabel=name, title=f"{name}, all variants{_suffix(part, swept)[1]}")
        variants = sorted({r.variant for r in members}, key=_variant_order)
        handles = [Line2D([], [], color=_color(v), linewidth=2, label=v) for v in variants]
        handles += [
            Line2D([], [], color="black", label=f"seed {seed}", **_seed_style(r, members))
            for seed, r in {str(r.seed): r for r in sorted(members, key=lambda r: str(r.seed))}.items()
        ]
        if any(r.restored_epoch for r in members):
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="*",
                    markersize=12,
                    markerfacecolor="gray",
                    markeredgecolor="black",
                    label="tested epoch (early stopping)",
                )
            )
        fig.legend(handles=handles, loc="center right", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        fig.tight_layout(rect=(0, 0, 0.83, 1))
        fig.savefig(out / f"val_all_variants{_suffix(part, swept)[0]}.png", dpi=80)
        plt.close(fig)
        paths.append(out / f"val_all_variants{_suffix(part, swept)[0]}.png")
    return paths


def _color(variant: str):
    index = VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS) + sum(map(ord, variant)) % 4
    return plt.get_cmap("tab10")(index % 10)


def _band(ax, xs, means, cis, color, label) -> None:
    """A mean line with its 95% CI band (where there is one: n >= 2)."""
    ax.plot(xs, means, "o-", color=color, label=label, markersize=3)
    lo = [m - c if math.isfinite(c) else math.nan for m, c in zip(means, cis)]
    hi = [m + c if math.isfinite(c) else math.nan for m, c in zip(means, cis)]
    ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)


def _partition(groups: list[_Group], swept: list[str], exclude: str | None = None) -> dict:
    """{(swept key, value) pairs but `exclude`: groups} -- one figure per combination of the other swept values."""
    parts = defaultdict(list)
    for g in groups:
        parts[tuple((k, _fmt_value(g.hparams.get(k))) for k in swept if k != exclude)].append(g)
    return parts


def _suffix(part: tuple, swept: list[str]) -> tuple[str, str]:
    """(file name suffix, title suffix) of one partition."""
    text = " ".join(f"{_short(k, swept)}={v}" for k, v in part)
    return ("_" + _slug(text) if text else ""), (f" ({text})" if text else "")


def plot_pooled_curves(groups: list[_Group], swept: list[str], out: Path) -> list[Path]:
    """Val loss and val acc per epoch, one line per variant: mean over seeds with its 95% CI band.

    An epoch's mean is over the runs that reached it (early stopping ends some runs sooner)."""
    paths = []
    for part, members in _partition(groups, swept).items():
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, tag, name in zip(axes, ("val/loss", "val/acc"), ("validation loss", "validation accuracy")):
            for g in members:
                epochs = sorted({e for r in g.runs for e in r.curves.get(tag, {})})
                stats = [mean_ci95(r.curves[tag][e] for r in g.runs if e in r.curves.get(tag, {})) for e in epochs]
                if epochs:
                    means = dict(zip(epochs, (m for _, m, _ in stats)))
                    _band(
                        ax,
                        epochs,
                        list(means.values()),
                        [c for _, _, c in stats],
                        _color(g.row["variant"]),
                        f"{g.row['variant']} (n={g.row['n']})",
                    )
                    restored = sorted({r.restored_epoch for r in g.runs if r.restored_epoch in means})
                    if restored:  # each seed's early-stopping epoch, on the mean line
                        ax.plot(
                            restored,
                            [means[e] for e in restored],
                            "*",
                            color=_color(g.row["variant"]),
                            markersize=12,
                            markeredgecolor="black",
                            zorder=5,
                        )
            ax.set(xlabel="epoch", ylabel=name, title=f"{name}: mean ± 95% CI over seeds{_suffix(part, swept)[1]}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
        paths.append(_save(fig, out / f"curves_pooled{_suffix(part, swept)[0]}.png"))
    return paths


def _varies(groups: list[_Group], x) -> bool:
    """Whether x(hparams) takes more than one value within some variant."""
    seen = defaultdict(set)
    for g in groups:
        if x(g.hparams) is not None:
            seen[g.row["variant"]].add(x(g.hparams))
    return any(len(v) > 1 for v in seen.values())


def plot_sweep(groups: list[_Group], swept: list[str], key: str, out: Path) -> list[Path]:
    """Test acc and generalization gap against `key` (data.train_size: log x; model.hidden: first layer's width,
    log2 x), one line per variant with its 95% CI band; one figure per combination of the other swept values."""
    if key == TRAIN_SIZE:
        x, xlabel, name, base = (
            (lambda h: _plain(h.get(TRAIN_SIZE)) if isinstance(h.get(TRAIN_SIZE), (int, float)) else None),
            "train size (examples)",
            "train_size",
            10,
        )
    else:
        x, xlabel, name, base = (lambda h: _width(h.get(HIDDEN))), "width (first hidden layer)", "width", 2
    if key not in swept or not _varies(groups, x):
        return []
    paths = []
    for part, members in _partition(groups, swept, exclude=key).items():
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, metric, ylabel in zip(axes, ("test_acc", "gap"), ("test accuracy", "gap (train acc - val acc)")):
            by_variant = defaultdict(list)
            for g in members:
                if x(g.hparams) is not None and math.isfinite(g.row[f"{metric}_mean"]):
                    by_variant[g.row["variant"]].append(g)
            for variant in sorted(by_variant, key=_variant_order):
                line = sorted(by_variant[variant], key=lambda g: x(g.hparams))
                _band(
                    ax,
                    [x(g.hparams) for g in line],
                    [g.row[f"{metric}_mean"] for g in line],
                    [g.row[f"{metric}_ci95"] for g in line],
                    _color(variant),
                    variant,
                )
            ax.set_xscale("log", base=base)
            ax.set(
                xlabel=xlabel,
                ylabel=ylabel,
                title=f"{ylabel} vs {name.replace('_', ' ')}: mean ± 95% CI{_suffix(part, swept)[1]}",
            )
            ax.legend(fontsize=7)
        paths.append(_save(fig, out / f"test_acc_gap_vs_{name}{_suffix(part, swept)[0]}.png"))
    return paths


# ---------------------------------------------------------------------------------------------- tables


def _slug(text: str) -> str:
    text = text.replace(", ", "x").replace("[", "").replace("]", "")  # hidden=[16, 16] -> hidden=16x16
    return "".join(c if c.isalnum() or c in "-_=." else "_" for c in text).strip("_")


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    """The per-run table; a `problems` column when some run has one."""
    flagged = any(r.get("problems") for r in rows)
    header = ["run", "epochs", "best val acc (epoch)", "final val loss", "test loss", "test acc (epoch)", "train time"]
    header += ["problems"] if flagged else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        best = f"{_fmt(r['best_val_acc'])} ({r['best_val_epoch']})" if r["best_val_epoch"] else "-"
        train_s = f"{r['train_s']:.1f} s" if math.isfinite(r["train_s"]) else "-"
        tested = f" ({r['tested_epoch']})" if r.get("tested_epoch") else ""
        lines.append(
            f"| {r['run']} | {r['epochs']} | {best} | {_fmt(r['final_val_loss'])} | {_fmt(r['test_loss'])} "
            f"| {_fmt(r['test_acc'])}{tested} | {train_s} |"
            + (f" {'**' + r['problems'] + '**' if r.get('problems') else ''} |" if flagged else "")
        )
    return "\n".join(lines) + "\n"


def _pm(mean: float, ci: float, n: int, sign: str = "") -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{mean:{sign}.4f} ± {ci:.4f}" if math.isfinite(ci) else f"{mean:{sign}.4f} (n={n}, no CI)"


def pooled_markdown(rows: list[dict], reference: str = REFERENCE) -> str:
    """The pooled table: mean ± 95% CI half-width over seeds."""
    flagged = any(r.get("problems") for r in rows)
    header = [
        "group",
        "n",
        "test acc",
        "test loss",
        "best val acc",
        "min val loss",
        "gap (train - val acc)",
        f"test acc - {reference} (paired)",
    ] + (["problems"] if flagged else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["group"], str(r["n"])] + [_pm(r[f"{m}_mean"], r[f"{m}_ci95"], r["n"]) for m in POOLED]
        cells.append(
            _pm(r["test_acc_diff_mean"], r["test_acc_diff_ci95"], r["n_paired"], "+")
            + (f" (n={r['n_paired']})" if r["n_paired"] > 1 else "")
        )
        cells += [f"**{r['problems']}**" if r["problems"] else ""] if flagged else []
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "mean ± half-width of the 95% t-interval over seeds (t.ppf(0.975, n-1)·s/√n; n = 1: no CI). "
        "gap = train acc - val acc at the last epoch. Paired: test acc minus the "
        f"{reference} run of the same seed (same data and swept settings), over the seeds both have.",
    ]
    return "\n".join(lines) + "\n"


def _csv_value(value):
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def write_comparison(runs: list[Run], out: str | Path, reference: str = REFERENCE) -> dict:
    """Figures (PNG), comparison.md/.csv (per run), pooled.md/.csv (seeds pooled) and, when anything could not
    be read, warnings.txt into `out`; returns {"figures", "tables": [paths], "warnings": [str],
    "rows": per-run dicts, "pooled": pool_runs' dicts}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    warnings = list(runs.warnings) if isinstance(runs, Runs) else [str(p) for r in runs for p in r.problems]
    figures = [plot_run(run, out) for run in runs]
    figures += [plot_pair(runs, reference, other, "val/loss", out) for other in VARIANTS if other != reference]
    figures.append(plot_pair(runs, reference, "big", "train/loss", out))
    figures += plot_all_variants(runs, swept_keys(runs), out)
    groups, swept = _groups(runs, reference, warnings)
    pooled = [g.row for g in groups]
    if groups:
        figures += plot_pooled_curves(groups, swept, out)
        figures += plot_sweep(groups, swept, TRAIN_SIZE, out) + plot_sweep(groups, swept, HIDDEN, out)
    else:
        warnings.append(
            f"{out / 'pooled.md'}: no run has both an HPARAMS summary and test metrics: the pooled table is empty"
        )

    note = (
        (
            "\n**Warnings** (also in warnings.txt): what could not be read; affected rows are flagged.\n\n"
            + "".join(f"- {w}\n" for w in warnings)
        )
        if warnings
        else ""
    )
    rows = [run.row() for run in runs]
    (out / "comparison.md").write_text(markdown_table(rows) + note)
    with open(out / "comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "pooled.md").write_text(pooled_markdown(pooled, reference) + note)
    fields = list(dict.fromkeys(k for row in pooled for k in row)) or ["group", "variant", "n"]
    with open(out / "pooled.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in pooled)
    tables = [out / "comparison.md", out / "comparison.csv", out / "pooled.md", out / "pooled.csv"]
    if warnings:
        (out / "warnings.txt").write_text("".join(w + "\n" for w in warnings))
        tables.append(out / "warnings.txt")
    else:
        (out / "warnings.txt").unlink(missing_ok=True)  # none from an earlier, damaged read
    return {
        "figures": [f for f in figures if f is not None],
        "tables": tables,
        "warnings": warnings,
        "rows": rows,
        "pooled": pooled,
    }
