"""What TensorBoard itself shows, read through its HTTP API (an in-process server on 127.0.0.1, as
`tensorboard --logdir ...` serves it): run names, scalars at step = epoch under the names the model logs, the
Custom Scalars overlay, and HPARAMS (which hyperparameters differ and are shown, the filters, one row per run).

First a sweep alone (`tensorboard --logdir logs/multiruns/<time>`): experiment=regularization cut to four variants x
two seeds, three epochs, early stopping stopping after two; between them they change every swept hyperparameter
(big: width and optimizer, l2: weight decay, early_stopping: dropout). Then a logs dir after some use
(`tensorboard --logdir logs`): that sweep, a second one of other variants and epochs, and a single run.
Screenshots of the same in a browser: docs/sweeps.md#what-tensorboard-shows (how: docs/development.md)."""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import compose_train, tiny_overrides
from tensorboard import program
from test_compare import run_py, sweep_overrides

from overfit.runs.tensorboard import trial_name
from overfit.train import train

VARIANTS = ("baseline", "big", "l2", "early_stopping")
EPOCHS = 3
SWEPT = {"model.variant", "seed", "model.hidden", "model.dropout", "model.optimizer.weight_decay", "model.optimizer"}
# The logs dir after some use: the sweep above, then a sweep of other variants for fewer epochs, then a single run.
FIRST, SECOND, SINGLE = "2026-01-01_00-00-00", "2026-01-01_01-00-00", "2026-01-01_02-00-00_small_s1"
OTHERS, OTHER_EPOCHS = ("small", "dropout"), 2
CURVES = ("train/loss", "val/loss", "train/acc", "val/acc")


def run_sweep_into(archive: Path, tmp: Path, sweep_dir: Path, *overrides: str, epochs: int) -> Path:
    result = run_py(
        "train.py",
        "experiment=regularization",
        *overrides,
        *sweep_overrides(archive, tmp, epochs),
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tb") / "logs"


@pytest.fixture(scope="module")
def sweep(tiny_archive, logs) -> Path:
    return run_sweep_into(
        tiny_archive,
        logs.parent,
        logs / "multiruns" / FIRST,
        "seeds=2",
        f"hydra.sweeper.params.model='{','.join(VARIANTS)}'",
        "++callbacks.early_stopping.min_delta=10",
        "++callbacks.early_stopping.patience=1",
        epochs=EPOCHS,
    )


class Board:
    """A TensorBoard server on `logdir` and its JSON API (the endpoints the web app calls)."""

    def __init__(self, logdir: Path):
        logging.getLogger("tensorboard").setLevel(logging.ERROR)
        self.tb = program.TensorBoard()
        argv = ["--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0", "--load_fast", "false"]
        self.tb.configure(argv=[None, *argv, "--reload_interval", "0"])  # 0: load once, before serving
        self.url = self.tb.launch().rstrip("/")

    def get(self, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def scalars(self, run: str, tag: str) -> list[tuple[int, float]]:
        query = urllib.parse.urlencode({"run": run, "tag": tag})
        return [(step, value) for _, step, value in self.get(f"/data/plugin/scalars/scalars?{query}")]

    def experiment(self) -> dict:
        return self.get("/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})

    def session_groups(self) -> list[dict]:
        """The rows in the tab's default order (no column sorted)."""
        statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
        return self.get(
            "/data/plugin/hparams/session_groups",
            {"experimentName": "", "allowedStatuses": statuses, "colParams": [], "startIndex": 0, "sliceSize": 1000},
        )["sessionGroups"]


@pytest.fixture(scope="module")
def board(sweep) -> Board:
    return Board(sweep)


@pytest.fixture(scope="module")
def day(tiny_archive, sweep, logs) -> Board:
    """TensorBoard on the whole logs dir, once the second sweep and the single run have joined the first sweep."""
    run_sweep_into(
        tiny_archive,
        logs.parent,
        logs / "multiruns" / SECOND,
        "seeds=1",
        f"hydra.sweeper.params.model='{','.join(OTHERS)}'",
        epochs=OTHER_EPOCHS,
    )
    train(
        compose_train(
            [*tiny_overrides(tiny_archive, logs.parent), "model=small", "seed=1"]
            + [f"paths.output_dir={logs / 'runs' / SINGLE}"]
        )
    )
    return Board(logs)


def shown_by_default(experiment: dict) -> tuple[list[str], list[str]]:
    """What the HPARAMS tab ticks at first (TensorBoard 2.21, tf-hparams-query-pane): the first five hyperparameters
    after a stable sort that puts the differing ones first, and the first five metrics."""
    infos = sorted(experiment["hparamInfos"], key=lambda h: not h.get("differs"))
    return [info["name"] for info in infos[:5]], [m["name"]["tag"] for m in experiment["metricInfos"][:5]]


@pytest.mark.slow
def test_runs_are_named_by_variant_and_seed(sweep, board):
    runs = board.get("/data/runs")
    expected = [f"{i}_{v}_s{s}" for i, (v, s) in enumerate((v, s) for v in VARIANTS for s in (0, 1))]
    assert sorted(runs) == sorted(expected)  # no /tensorboard suffix, no extra run


@pytest.mark.slow
def test_per_epoch_scalars_are_plotted_against_the_epoch_under_the_names_the_model_logs(sweep, board):
    tags = board.get("/data/plugin/scalars/tags")
    for run, run_tags in tags.items():
        assert set(run_tags) == {
            *CURVES,  # as the progress bar, metrics.json and compare name them (not loss/train, acc/val)
            "test/loss",
            "test/acc",
            "val/acc_best",
            "time/train_s",
            "train/acc_eval",  # BagOfWordsMLP.on_train_end: train acc with dropout off, at the last epoch
            "train/loss_eval",
            *("val/ece", "val/auroc", "val/brier", "test/ece", "test/auroc", "test/brier"),  # calibration
            *("test/ece_scaled", "test/loss_scaled", "test/brier_scaled", "test/temperature"),  # at T
        }, run  # no `epoch` card
        record = json.loads((sweep / run / "metrics.json").read_text())
        epochs = list(range(1, record["epochs_run"] + 1))
        for tag in (*CURVES, "val/ece", "val/auroc", "val/brier"):
            assert [step for step, _ in board.scalars(run, tag)] == epochs, (run, tag)
        tested = record["tested_checkpoint"]  # early stopping tests its best epoch, the others the last one
        epoch = int(re.search(r"epoch_(\d+)\.ckpt$", tested).group(1)) if tested else epochs[-1]
        assert [step for step, _ in board.scalars(run, "test/acc")] == [epoch]
        for tag in ("test/ece", "test/ece_scaled", "test/temperature"):  # where the tested weights sit
            assert [step for step, _ in board.scalars(run, tag)] == [epoch], (run, tag)
            assert board.scalars(run, tag)[0][1] == pytest.approx(record["metrics"][tag])
        assert board.scalars(run, "test/acc")[0][1] == pytest.approx(record["metrics"]["test/acc"])
        assert board.scalars(run, "val/loss")[-1][1] == pytest.approx(record["metrics"]["val/loss"])
    stopped = json.loads((sweep / "6_early_stopping_s0" / "metrics.json").read_text())
    assert stopped["early_stopped"] and stopped["epochs_run"] == 2 < EPOCHS


@pytest.mark.slow
def test_train_and_val_side_by_side_in_custom_scalars_and_in_the_time_series_filter(board):
    plugins = board.get("/data/plugins_listing")
    assert next(name for name, p in plugins.items() if p["enabled"]) == "timeseries"  # the landing page
    tags = board.get("/data/plugin/scalars/tags")
    every = {tag for run_tags in tags.values() for tag in run_tags}
    # Time Series groups cards by the tag's first part and opens the first two (test: a point per run; time)
    assert list(dict.fromkeys(tag.split("/")[0] for tag in sorted(every))) == ["test", "time", "train", "val"]
    # docs/sweeps.md's filter for its search box: train, val and test of each metric, side by side
    assert {t for t in every if re.search(r"/(loss|acc)$", t)} == {*CURVES, "test/loss", "test/acc"}
    layout = board.get("/data/plugin/custom_scalars/layout")  # the Keras-style overlay: train and val in one chart
    charts = {c["title"]: c["multiline"]["tag"] for category in layout["category"] for c in category["chart"]}
    assert set(charts) == {"loss", "accuracy"}
    for run, run_tags in tags.items():
        for title, metric in (("loss", "loss"), ("accuracy", "acc")):
            shown = {t for t in run_tags if any(re.search(pattern, t) for pattern in charts[title])}
            assert shown == {f"train/{metric}", f"val/{metric}"}, (run, title)


@pytest.mark.slow
def test_hparams_shows_what_differs_and_the_metrics_under_their_names(board):
    experiment = board.experiment()
    names = {h["name"].split(" ", 1)[1]: h for h in experiment["hparamInfos"]}  # "00 model.variant": ranked
    assert {key for key, h in names.items() if h.get("differs")} == SWEPT
    assert {"model.optimizer.lr", "data.batch_size", "data.vocab_size", "trainer.max_epochs"} <= {
        key for key, h in names.items() if not h.get("differs")
    }
    hparams, metrics = shown_by_default(experiment)
    assert hparams == [  # the optimizer: 6th, one click away
        "00 model.variant",
        "02 seed",
        "05 model.hidden",
        "06 model.dropout",
        "07 model.optimizer.weight_decay",
    ]
    tags = {tag for run_tags in board.get("/data/plugin/scalars/tags").values() for tag in run_tags}
    assert [m["name"]["tag"] for m in experiment["metricInfos"]] == sorted(tags)  # every metric, by its name
    assert metrics == ["test/acc", "test/auroc", "test/brier", "test/brier_scaled", "test/ece"]
    assert sorted(names["model.variant"]["domainDiscrete"]) == sorted(VARIANTS)


@pytest.mark.slow
def test_hparams_rows_carry_the_runs_values_and_metrics(sweep, board):
    groups = board.session_groups()
    assert len(groups) == 2 * len(VARIANTS)
    for group in groups:
        run = next(p.name for p in sweep.iterdir() if p.is_dir() and trial_name(p) == group["name"])
        record = json.loads((sweep / run / "metrics.json").read_text())
        assert group["hparams"]["00 model.variant"] == record["variant"]
        assert group["hparams"]["02 seed"] == record["seed"]
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        for tag in ("test/acc", "test/loss", "val/loss", "train/acc"):  # metrics.json's names and values
            assert values[tag] == pytest.approx(record["metrics"][tag]), (run, tag)


def test_trial_names_sort_as_the_jobs_ran():
    """TensorBoard lists the rows by trial name: job 10 after job 9 (zero-padded), then single runs."""
    jobs = [Path("logs/multiruns") / FIRST / f"{i}_baseline_s0" for i in range(12)]
    names = [trial_name(p) for p in [*jobs, Path("logs/runs") / SINGLE]]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert names[10] == f"010_baseline_s0 · {FIRST}" and names[-1] == "small_s1 · 2026-01-01_02-00-00"


@pytest.mark.slow
def test_a_logs_dir_with_two_sweeps_and_a_single_run_filters_and_sorts_every_row(day):
    groups = day.session_groups()
    names = [g["name"] for g in groups]
    first = [f"{i:03d}_{v}_s{s} · {FIRST}" for i, (v, s) in enumerate((v, s) for v in VARIANTS for s in (0, 1))]
    second = [f"{i:03d}_{v}_s0 · {SECOND}" for i, v in enumerate(OTHERS)]
    assert names == [*sorted(first + second), "small_s1 · 2026-01-01_02-00-00"]  # one row each, jobs in order
    experiment = day.experiment()
    for info in experiment["hparamInfos"]:  # each filter lets through every row in view
        values = [g["hparams"][info["name"]] for g in groups if info["name"] in g["hparams"]]
        if "domainDiscrete" in info:
            assert set(values) <= set(info["domainDiscrete"]), info["name"]
        else:  # a number: an interval, left open by the tab
            assert info["type"] == "DATA_TYPE_FLOAT64", info["name"]
    variant = next(h for h in experiment["hparamInfos"] if h["name"] == "00 model.variant")
    assert set(variant["domainDiscrete"]) == {*VARIANTS, *OTHERS}  # both sweeps' variants, not the first's
    sweep = next(h for h in experiment["hparamInfos"] if h["name"] == "01 sweep")  # pick a sweep, or sort by it
    assert set(sweep["domainDiscrete"]) == {"01-01_00-00-00", "01-01_01-00-00", "runs"}
    shown, metrics = shown_by_default(experiment)
    assert shown == ["00 model.variant", "01 sweep", "02 seed", "03 trainer.max_epochs", "05 model.hidden"]
    assert next(h for h in experiment["hparamInfos"] if h["name"] == "03 trainer.max_epochs")["differs"]  # 3, 2, 1
    assert metrics[0] == "test/acc"


@pytest.mark.slow
def test_compare_reads_the_sweep_and_marks_the_tested_epoch(sweep, tmp_path):
    from overfit.compare import load_runs, write_comparison

    runs = load_runs(sweep)
    assert len(runs) == 2 * len(VARIANTS) and runs.warnings == []
    for run in runs:
        record = json.loads((run.path / "metrics.json").read_text())
        assert sorted(run.curves["val/loss"]) == list(range(1, record["epochs_run"] + 1))
        tested = record["tested_checkpoint"]
        assert run.test_epoch == (int(re.search(r"epoch_(\d+)", tested).group(1)) if tested else record["epochs_run"])
        assert run.restored_epoch == (run.test_epoch if run.test_epoch < record["epochs_run"] else None)
    written = write_comparison(runs, tmp_path / "cmp")
    assert (tmp_path / "cmp" / "val_all_variants.png") in written["figures"]
