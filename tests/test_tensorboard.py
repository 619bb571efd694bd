"""What TensorBoard itself shows of a small sweep, read through its HTTP API (an in-process server on 127.0.0.1,
as `tensorboard --logdir <sweep dir>` serves it): run names, scalars at step = epoch, the landing page's card
groups, and HPARAMS (which hyperparameters differ and are shown, the metric columns, one row per run).

The sweep: experiment=regularization cut to four variants x two seeds, three epochs, early stopping stopping after
two; between them they change every swept hyperparameter (big: width and optimizer, l2: weight decay,
early_stopping: dropout)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tensorboard import program
from test_compare import run_sweep

from overfit.train import train

VARIANTS = ("baseline", "big", "l2", "early_stopping")
EPOCHS = 3
SWEPT = {"variant", "seed", "hidden", "dropout", "weight decay", "optimizer"}  # titles of the differing ones


@pytest.fixture(scope="module")
def sweep(tiny_archive, tmp_path_factory) -> Path:
    return run_sweep(
        tiny_archive,
        tmp_path_factory.mktemp("tb"),
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
        self.tb.configure(
            argv=[
                None,
                "--logdir",
                str(logdir),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--load_fast",
                "false",
                "--reload_interval",
                "0",
            ]
        )  # 0: load once, before serving
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
        statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
        return self.get(
            "/data/plugin/hparams/session_groups",
            {"experimentName": "", "allowedStatuses": statuses, "colParams": [], "startIndex": 0, "sliceSize": 1000},
        )["sessionGroups"]


@pytest.fixture(scope="module")
def board(sweep) -> Board:
    return Board(sweep)


def shown_by_default(experiment: dict) -> tuple[list[str], list[str]]:
    """What the HPARAMS tab ticks at first (TensorBoard 2.21, tf-hparams-query-pane): the first five hyperparameters
    after a stable sort that puts the differing ones first, and the first five metrics."""
    infos = sorted(experiment["hparamInfos"], key=lambda h: not h.get("differs"))
    titles = [info.get("displayName") or info["name"] for info in infos]
    return titles[:5], [m["name"]["tag"] for m in experiment["metricInfos"][:5]]


@pytest.mark.slow
def test_runs_are_named_by_variant_and_seed(sweep, board):
    runs = board.get("/data/runs")
    expected = [f"{i}_{v}_s{s}" for i, (v, s) in enumerate((v, s) for v in VARIANTS for s in (0, 1))]
    assert sorted(runs) == sorted(expected)  # no /tensorboard suffix, no extra run for the sweep's definition


@pytest.mark.slow
def test_per_epoch_scalars_are_plotted_against_the_epoch(sweep, board):
    tags = board.get("/data/plugin/scalars/tags")
    for run, run_tags in tags.items():
        assert set(run_tags) == {
            "loss/train",
            "loss/val",
            "acc/train",
            "acc/val",
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
        for tag in ("loss/train", "loss/val", "acc/train", "acc/val", "val/ece", "val/auroc", "val/brier"):
            assert [step for step, _ in board.scalars(run, tag)] == epochs, (run, tag)
        tested = record["tested_checkpoint"]  # early stopping tests its best epoch, the others the last one
        epoch = int(re.search(r"epoch_(\d+)\.ckpt$", tested).group(1)) if tested else epochs[-1]
        assert [step for step, _ in board.scalars(run, "test/acc")] == [epoch]
        for tag in ("test/ece", "test/ece_scaled", "test/temperature"):  # where the tested weights sit
            assert [step for step, _ in board.scalars(run, tag)] == [epoch], (run, tag)
            assert board.scalars(run, tag)[0][1] == pytest.approx(record["metrics"][tag])
        assert board.scalars(run, "test/acc")[0][1] == pytest.approx(record["metrics"]["test/acc"])
        assert board.scalars(run, "loss/val")[-1][1] == pytest.approx(record["metrics"]["val/loss"])
    stopped = json.loads((sweep / "6_early_stopping_s0" / "metrics.json").read_text())
    assert stopped["early_stopped"] and stopped["epochs_run"] == 2 < EPOCHS


@pytest.mark.slow
def test_landing_page_opens_on_the_loss_and_accuracy_curves(board):
    plugins = board.get("/data/plugins_listing")
    assert next(name for name, p in plugins.items() if p["enabled"]) == "timeseries"  # the landing page
    tags = {tag for run_tags in board.get("/data/plugin/scalars/tags").values() for tag in run_tags}
    groups = list(dict.fromkeys(tag.split("/")[0] for tag in sorted(tags)))
    assert groups[:2] == ["acc", "loss"]  # Time Series expands the first two groups: train and val side by side
    layout = board.get("/data/plugin/custom_scalars/layout")  # the Keras-style overlay: train and val in one chart
    charts = [c for category in layout["category"] for c in category["chart"]]
    assert {c["title"] for c in charts} == {"loss", "accuracy"}


@pytest.mark.slow
def test_hparams_shows_what_differs_and_the_test_metrics_first(board):
    experiment = board.experiment()
    differs = {h["displayName"] for h in experiment["hparamInfos"] if h.get("differs")}
    assert differs == SWEPT
    same = {h["displayName"] for h in experiment["hparamInfos"] if not h.get("differs")}
    assert {"lr", "batch size", "vocab size", "max epochs"} <= same
    hparams, metrics = shown_by_default(experiment)
    assert hparams == ["variant", "seed", "hidden", "dropout", "weight decay"]  # optimizer: 6th, one click away
    assert metrics == ["test/acc", "test/loss", "test/ece", "val/acc_best", "loss/val"]
    domain = next(h for h in experiment["hparamInfos"] if h["displayName"] == "variant")["domainDiscrete"]
    assert sorted(domain) == sorted(VARIANTS)


@pytest.mark.slow
def test_hparams_rows_name_variant_and_seed_and_carry_the_test_metrics(sweep, board):
    groups = board.session_groups()
    assert len(groups) == 2 * len(VARIANTS)
    for group in groups:
        run = group["name"].split(" · ")[0]
        assert re.fullmatch(r"\d+_[a-z_0-9]+_s[01]", run) and group["name"] == f"{run} · {sweep.name}"
        record = json.loads((sweep / run / "metrics.json").read_text())
        assert group["hparams"]["00 model.variant"] == record["variant"]
        assert group["hparams"]["01 seed"] == record["seed"]
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert values["test/acc"] == pytest.approx(record["metrics"]["test/acc"])
        assert values["test/loss"] == pytest.approx(record["metrics"]["test/loss"])


@pytest.mark.slow
def test_a_logs_dir_with_a_sweep_and_a_single_run_keeps_every_row(sweep, train_cfg, tmp_path):
    shutil.copytree(sweep, tmp_path / "logs" / "multiruns" / sweep.name)
    single = tmp_path / "logs" / "runs" / "2026-01-01_00-00-00_small_s1"  # conf/hydra/default.yaml's run.dir
    train(train_cfg("model=small", "seed=1", f"paths.output_dir={single}"))
    board = Board(tmp_path / "logs")
    names = [g["name"] for g in board.session_groups()]
    assert len(names) == len(set(names)) == 2 * len(VARIANTS) + 1  # rows are not merged by a shared trial name
    assert "small_s1 · 2026-01-01_00-00-00" in names  # variant and seed first: the Trial ID column is narrow
    assert shown_by_default(board.experiment())[0][:2] == ["variant", "seed"]


@pytest.mark.slow
def test_compare_reads_the_sweep_and_marks_the_tested_epoch(sweep, tmp_path):
    from overfit.compare import load_runs, write_comparison

    runs = load_runs(sweep)
    assert len(runs) == 2 * len(VARIANTS) and runs.warnings == []  # the definition in 0_baseline_s0 is no problem
    for run in runs:
        record = json.loads((run.path / "metrics.json").read_text())
        assert sorted(run.curves["val/loss"]) == list(range(1, record["epochs_run"] + 1))
        tested = record["tested_checkpoint"]
        assert run.test_epoch == (int(re.search(r"epoch_(\d+)", tested).group(1)) if tested else record["epochs_run"])
        assert run.restored_epoch == (run.test_epoch if run.test_epoch < record["epochs_run"] else None)
    written = write_comparison(runs, tmp_path / "cmp")
    assert (tmp_path / "cmp" / "val_all_variants.png") in written["figures"]
