"""Calibration (issue 22): ECE, Brier and AUROC on cases whose answer is known by hand, temperature scaling that
recovers a known temperature and leaves accuracy and AUROC alone, DDP's values equal to one process's, and the
metrics arriving where every other metric goes (metrics.json, validate()/test(), eval.py, compare)."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from overfit.models import calibration
from overfit.models.calibration import EvalMetrics, fit_temperature, reliability_bins, split_metrics


def measured(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    metrics = EvalMetrics()
    metrics.update(logits, labels)
    return {k: float(v) for k, v in metrics.compute().items()}


@pytest.mark.parametrize("p,q", [(0.8, 0.3), (0.5, 0.5), (0.1, 0.25), (0.95, 1.0)])
def test_a_constant_probability_has_ece_equal_to_its_distance_from_the_positive_rate(p, q):
    n = 1000
    labels = torch.zeros(n)
    labels[: round(q * n)] = 1
    logits = torch.full((n,), math.log(p / (1 - p)))
    found = measured(logits, labels)
    assert found["ece"] == pytest.approx(abs(p - q), abs=1e-5)
    assert calibration.ece(torch.sigmoid(logits), labels) == pytest.approx(abs(p - q), abs=1e-6)
    # Brier: q of the rows miss by 1 - p, the others by p
    assert found["brier"] == pytest.approx(q * (1 - p) ** 2 + (1 - q) * p**2, abs=1e-5)


def test_a_calibrated_model_has_ece_near_zero_and_the_expected_brier_score():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(200_000, generator=g).clamp(1e-6, 1 - 1e-6)
    labels = (torch.rand(200_000, generator=g) < p).float()  # P(y = 1 | p) = p: calibrated by construction
    found = measured(torch.logit(p), labels)
    assert found["ece"] < 0.01
    assert found["brier"] == pytest.approx(1 / 6, abs=0.003)  # E[p(1 - p)] for p ~ U(0, 1)
    assert 0.8 < found["auroc"] < 0.87  # 5/6 in expectation


def test_logits_inside_0_1_are_not_taken_for_probabilities():
    # All logits in [0.2, 0.9]: P(positive) = sigmoid(logit) in [0.55, 0.71]; torchmetrics alone would read the
    # logits themselves as probabilities (it applies no sigmoid when every value lies in [0, 1]).
    logits = torch.linspace(0.2, 0.9, 400)
    labels = (torch.arange(400) % 2).float()
    found = measured(logits, labels)
    assert found["ece"] == pytest.approx(calibration.ece(torch.sigmoid(logits), labels), abs=1e-5)
    assert found["ece"] != pytest.approx(calibration.ece(logits, labels), abs=1e-3)


def test_reliability_bins_give_torchmetrics_ece_and_put_p_equal_1_apart():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5000, generator=g) * 3
    labels = (torch.rand(5000, generator=g) < 0.5).float()
    assert calibration.ece(torch.sigmoid(logits), labels) == pytest.approx(measured(logits, labels)["ece"], abs=1e-5)
    bins = reliability_bins(torch.tensor([0.0, 0.5, 0.99, 1.0]), torch.tensor([0.0, 1.0, 1.0, 1.0]))
    assert len(bins["count"]) == len(bins["edges"]) == 16  # 15 bins, then p = 1.0 (torchmetrics' bucketize rule)
    assert bins["count"][0] == bins["count"][7] == bins["count"][14] == bins["count"][15] == 1


@pytest.mark.parametrize("temperature", [0.5, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(temperature):
    g = torch.Generator().manual_seed(2)
    z = torch.randn(50_000, generator=g) * 2
    labels = (torch.rand(50_000, generator=g) < torch.sigmoid(z)).float()  # calibrated at T = 1
    assert fit_temperature(z * temperature, labels) == pytest.approx(temperature, rel=0.04)


def test_temperature_scaling_keeps_accuracy_and_auroc_and_lowers_the_log_loss():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(20_000, generator=g) * 2
    labels = (torch.rand(20_000, generator=g) < torch.sigmoid(z)).float()
    overconfident = z * 3
    t = fit_temperature(overconfident, labels)
    before, after = split_metrics(overconfident, labels), split_metrics(overconfident, labels, t)
    assert after["acc"] == before["acc"] and after["auroc"] == pytest.approx(before["auroc"], abs=1e-12)
    assert after["loss"] < before["loss"] and after["ece"] < before["ece"] / 3 and after["brier"] < before["brier"]


def test_temperature_scaling_refuses_labels_of_one_class():
    with pytest.raises(ValueError, match="both classes"):
        fit_temperature(torch.randn(10), torch.ones(10))
    assert fit_temperature(torch.zeros(10), torch.tensor([0.0, 1.0] * 5)) == 1.0  # flat loss: T = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, logits, labels, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        metrics = EvalMetrics()
        for batch in range(rank, 10, 2):  # ranks take alternate batches of unequal size, as a strided share would
            rows = slice(batch * 397, (batch + 1) * 397)
            metrics.update(logits[rows], labels[rows])
        out[rank] = {k: float(v) for k, v in metrics.compute().items()}
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ddp_ranks_give_the_single_process_values():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3970, generator=g) * 2
    labels = (torch.rand(3970, generator=g) < torch.sigmoid(logits * 0.7)).float()
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_rank, args=(_free_port(), logits, labels, out), nprocs=2, join=True)
        ranks = dict(out)
    single = measured(logits, labels)
    for rank in (0, 1):  # every rank logs the metrics of the whole split
        assert ranks[rank] == pytest.approx(single, abs=1e-6), rank


@pytest.mark.slow
def test_a_run_logs_calibration_and_eval_prints_it_before_and_after_scaling(run, tmp_path):
    import forked
    from conftest import REPO

    metrics = json.loads((run.out / "metrics.json").read_text())
    logged = metrics["metrics"]
    for key in ("val/ece", "val/auroc", "val/brier", "test/ece", "test/auroc", "test/brier"):
        assert 0 <= logged[key] <= 1, key
    assert logged["test/temperature"] > 0 and {"test/ece_scaled", "test/loss_scaled"} <= set(logged)
    bins = metrics["calibration"]["bins"]
    assert sum(bins["count"]) == 120  # the tiny archive's test reviews
    result = forked.run(
        [
            sys.executable,
            "eval.py",
            f"ckpt_path={run.ckpt}",
            f"data.archive={run.archive}",
            "data.sha256=null",
            f"paths.data_dir={run.tmp / 'data'}",
            f"paths.log_dir={tmp_path / 'logs'}",
            "data.val_size=7",  # not the run's: eval.py takes the run's own validation split from the checkpoint
            "trainer.enable_progress_bar=false",
        ],
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "as trained" in out and "T = " in out and "(the run's own, from the checkpoint)" in out
    assert "data.val_size=40" in out and f"  as trained      {logged['test/ece']:.3f}  " in out  # ECE: 3 decimals
    assert f"  T = {logged['test/temperature']:.2f}  " in out  # the same T as the run found after its test


@pytest.mark.slow
def test_eval_works_on_a_checkpoint_without_the_runs_record(run, tmp_path):
    """Checkpoints from before the run's config was recorded: eval.py uses this config's validation split, says so."""
    import forked
    from conftest import REPO

    old = dict(run.raw)
    old["callbacks"] = {k: v for k, v in old["callbacks"].items() if k != "RunConfig"}
    ckpt = tmp_path / "old.ckpt"
    torch.save(old, ckpt)
    common = [f"data.archive={run.archive}", "data.sha256=null", f"paths.data_dir={run.tmp / 'data'}"]
    result = forked.run(
        [sys.executable, "eval.py", f"ckpt_path={ckpt}", *common, "data.val_size=40", f"paths.log_dir={tmp_path}"],
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "this config's: the checkpoint does not record the run's" in result.stdout and "as trained" in result.stdout


def test_compare_reads_the_calibration_into_its_tables_and_reliability_figure(run, tmp_path):
    import matplotlib.image

    from overfit.compare import load_runs, pooled_markdown
    from overfit.compare.calibration_plots import plot_reliability, pooled_bins
    from overfit.compare.pooling import pool_groups
    from overfit.models.calibration import bins_ece

    record = json.loads((run.out / "metrics.json").read_text())
    runs = load_runs(run.out)
    row = runs[0].row()
    assert row["test_ece"] == pytest.approx(record["metrics"]["test/ece"])
    assert row["temperature"] == pytest.approx(record["metrics"]["test/temperature"])
    assert sorted(runs[0].curves["val/ece"]) == list(range(1, record["epochs_run"] + 1))
    groups, _ = pool_groups(runs)
    assert "| test ECE | test ECE at T |" in pooled_markdown([g.row for g in groups])
    bins = pooled_bins(groups[0])
    assert len(bins["count"]) == 15 and bins["count"].sum() == 120  # p = 1.0's slot folded into the last bin
    # the pooled bins' ECE is the run's own (one run: nothing pooled), as computed in float64 by train.py
    assert bins_ece(pooled_bins(groups[0], "bins_scaled")) == pytest.approx(record["metrics"]["test/ece_scaled"])
    figure = plot_reliability(groups, tmp_path)
    assert figure.name == "reliability.png" and matplotlib.image.imread(figure).shape[0] > 300


@pytest.mark.slow
def test_the_calibration_benchmark_prints_the_metrics_share_of_a_fit(tiny_archive, tmp_path, capsys):
    from conftest import tiny_overrides

    from benchmarks import calibration as bench

    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path, epochs=2) if not o.startswith("paths.")]
    bench.main(["--repeats", "1", *overrides, f"paths.data_dir={tmp_path / 'data'}"], prog="calibration")
    out = capsys.readouterr().out
    share = re.search(r"time inside the metrics .*: (\d+\.\d)% of a fit", out)
    assert share and 0 < float(share.group(1)) < 100, out
    assert re.search(r"\| without \| \d+\.\d+ s \| \d+\.\d+ s \|", out) and "| with |" in out


def test_the_calibration_benchmark_refuses_zero_repeats(capsys):
    from benchmarks import calibration as bench

    with pytest.raises(SystemExit) as stop:
        bench.main(["--repeats", "0"], prog="calibration")
    assert stop.value.code == 2 and "--repeats 0: give 1 or more" in capsys.readouterr().err
