"""How far to trust the classifier's confidence: calibration metrics, reliability bins, temperature scaling.

A model is calibrated when, of the reviews it gives P(positive) = 0.8, 80% are positive. With p = sigmoid(logit):

    ECE   = sum_b (n_b / N) * |mean(p in b) - mean(y in b)|     15 equal-width bins of p over [0, 1], L1
    Brier = mean((p - y)^2)                                       0 for a perfect, 0.25 for a constant 0.5
    AUROC = P(p of a random positive > p of a random negative)    ranking only: no temperature changes it

torchmetrics computes all three (`EvalMetrics`, updated every validation/test step on the device, read once an
epoch). For binary targets torchmetrics' `BinaryCalibrationError` bins P(positive) itself, not the top class's
confidence: its ECE is the gap of the reliability diagram (predicted probability against observed frequency),
so a constant p on a set whose positive fraction is q has ECE = |p - q| (tests/test_calibration.py). Edge cases:
p = 1.0 exactly (a float32 sigmoid of a logit above ~17, common for `big`) falls in a 16th bin of its own, as
torchmetrics does it; an empty bin weighs nothing; an empty epoch logs no calibration metric.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017): divide every logit by
one scalar T > 0 fitted on the validation split by minimizing its log loss. T > 1 softens an overconfident model.
Dividing by T keeps every logit's sign and order, so accuracy and AUROC do not change (tested); the log loss,
ECE and Brier score of the test split do. `calibrate` fits T and measures the test split before and after.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanSquaredError
from torchmetrics.classification import BinaryAUROC, BinaryCalibrationError
from torchmetrics.functional.classification import binary_auroc

N_BINS = 15


class EvalMetrics(nn.Module):
    """AUROC, ECE and Brier score of one split, accumulated on the model's device, computed once an epoch.

    torchmetrics keeps the batches' probabilities (a few hundred KB for IMDB's 25k reviews) and computes at the end:
    exact AUROC, no binning error. validate_args=False: the argument checks read values back to the host every step.
    Under DDP, compute() gathers every rank's probabilities, so each rank logs the metrics of the whole split.
    """

    def __init__(self):
        super().__init__()
        # A plain ModuleDict, not a MetricCollection: the collection's bookkeeping cost more than the three
        # metrics' own work (3.1 against 1.9 ms an epoch of 10k reviews, 2-core dev machine, 2026-12-07).
        self.metrics = nn.ModuleDict(
            {
                "auroc": BinaryAUROC(validate_args=False),
                "ece": BinaryCalibrationError(n_bins=N_BINS, norm="l1", validate_args=False),
                "brier": MeanSquaredError(),
            }
        )

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        # Probabilities by our sigmoid: logits that happen to lie in [0, 1] must not be taken for probabilities
        # (torchmetrics applies a sigmoid only when some value lies outside [0, 1]).
        probs = torch.sigmoid(logits.detach().float())
        target = labels.detach()
        self.metrics["auroc"].update(probs, target.long())
        self.metrics["ece"].update(probs, target.long())
        self.metrics["brier"].update(probs, target.float())

    def compute(self) -> dict[str, torch.Tensor]:
        """{"auroc", "ece", "brier"}; {} when nothing was seen this epoch (nothing to say, rather than a warning)."""
        if not self.metrics["ece"].update_called:
            return {}
        return {name: metric.compute().float() for name, metric in self.metrics.items()}

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()


def ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = N_BINS) -> float:
    """The ECE of probabilities P(positive) against 0/1 labels, as torchmetrics computes it (see the module doc)."""
    return bins_ece(reliability_bins(probs, labels, n_bins))


def bins_ece(bins: dict) -> float:
    """The ECE of reliability bins (`reliability_bins`, or several runs' added up): sum over bins of
    |sum_p - sum_y| / N, i.e. each bin's |mean p - fraction positive| weighted by its share of the rows."""
    total = sum(bins["count"])
    return float(sum(abs(p - y) for p, y in zip(bins["sum_p"], bins["sum_y"])) / max(total, 1))


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = N_BINS) -> dict[str, list]:
    """Per bin of P(positive): the count, the sum of p and the number of positives (sums pool over seeds).

    Bin k holds k/n <= p < (k+1)/n; p = 1.0 gets bin n (torchmetrics' bucketize rule). Plain lists, for metrics.json.
    """
    probs, labels = probs.detach().double().flatten().cpu(), labels.detach().double().flatten().cpu()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=probs.dtype)
    index = torch.bucketize(probs, edges, right=True) - 1
    sums = torch.zeros(3, n_bins + 1, dtype=torch.float64)
    for row, values in enumerate((torch.ones_like(probs), probs, labels)):
        sums[row].scatter_add_(0, index, values)
    return {
        "edges": edges.tolist(),
        "count": sums[0].tolist(),
        "sum_p": sums[1].tolist(),
        "sum_y": sums[2].tolist(),
    }


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """T > 0 minimizing the mean log loss of sigmoid(logits / T): L-BFGS on log T (keeps T positive), float64.

    The log loss is convex in 1/T, so this finds the one minimum. Degenerate cases: labels of one class drive T to
    0 or infinity (no optimum), refused; all-zero logits leave the loss flat, T = 1.
    """
    z, y = logits.detach().double().flatten().cpu(), labels.detach().double().flatten().cpu()
    if z.numel() == 0 or y.min() == y.max():
        raise ValueError("temperature scaling needs both classes among the validation labels")
    if not z.abs().max() > 0:
        return 1.0
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def split_metrics(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> dict[str, float]:
    """Log loss (from the logits: exact where the sigmoid saturates), accuracy, AUROC, ECE and Brier of a split,
    at temperature T, all in float64: a before/after comparison that float32 rounding cannot blur."""
    z, y = logits.detach().double().flatten().cpu() / temperature, labels.detach().double().flatten().cpu()
    probs = torch.sigmoid(z)
    return {
        "loss": float(F.binary_cross_entropy_with_logits(z, y)),
        "acc": float(((z > 0) == (y > 0.5)).double().mean()),
        "auroc": float(binary_auroc(probs, y.long())),
        "ece": ece(probs, y),
        "brier": float(((probs - y) ** 2).mean()),
    }


@torch.inference_mode()
def predict_logits(model: nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of every batch (indices, offsets, labels), the model in eval mode (restored afterwards)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    for indices, offsets, y in batches:
        logits.append(model(indices.to(device), offsets.to(device)).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def calibrate(model: nn.Module, val_batches, test_batches) -> dict:
    """Fit T on the validation split; the test split's metrics and reliability bins before and after.

    Returns {"temperature": T, "before": split_metrics, "after": split_metrics at T, "bins": ..., "bins_scaled": ...}.
    """
    val_logits, val_labels = predict_logits(model, val_batches)
    test_logits, test_labels = predict_logits(model, test_batches)
    t = fit_temperature(val_logits, val_labels)
    if not math.isfinite(t):
        raise ValueError(f"temperature scaling diverged (T={t})")
    return {
        "temperature": t,
        "before": split_metrics(test_logits, test_labels),
        "after": split_metrics(test_logits, test_labels, t),
        "bins": reliability_bins(torch.sigmoid(test_logits.double()), test_labels),
        "bins_scaled": reliability_bins(torch.sigmoid(test_logits.double() / t), test_labels),
    }
