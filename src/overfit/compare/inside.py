"""Inside a trained IMDB classifier: the words that push a review positive or negative, and the test reviews it gets
most confidently wrong.

    inside = look_inside(run.dir / "checkpoints" / "last.ckpt", run.config.data)   # model, test split, texts
    inside.words["positive"][:5]        # [(word, score), ...], the largest score first; "negative": most negative
    inside.mistakes[:3]                 # [Mistake(row, review_id, rating, label, p_positive, logit, text)]: the
                                        #   surest first
    inside.p_positive, inside.labels, inside.logits   # every test review's (float64 numpy arrays)

The pieces, for any BagOfWordsMLP or its plain BagOfWordsNet (models/network.py) and any batches of
(indices, offsets, labels):

    word_scores(model, batches)         -> Tensor (vocab_size,): each word's weight path to the logit
    top_words(scores, vocabulary, k)    -> {"positive": [(word, score)] * <= k, "negative": [...]}
    logits(model, batches)              -> (logits, labels) as float64 numpy arrays, in the batches' order
    confident_mistakes(p, labels, k)    -> row numbers of the k surest mistakes, the surest first

A word's score is the derivative of the model's logit with respect to the word's input (0 or 1 in the bag of
words), averaged over the reviews given: to first order, how far the logit moves when the word is added to a
review. The first layer is linear (z1 = W1 x + b1), so the score of word w is W1[:, w] . mean_r dlogit/dz1(r), the
sum over every path from w through the hidden units to the logit of the product of its weights, each path counted
in the share of reviews whose ReLUs along it are open: for a net whose units are all open it is exactly
(W3 W2 W1)[w]. Why not W3 W2 W1 with every ReLU ignored: it counts paths through units that are off; why not the
derivative at the empty review (x = 0): no review is empty, and which units are open there says nothing about real
ones. In eval mode (dropout off), as the model predicts.

A mistake is a review whose P(positive) is on the wrong side of 0.5 (> 0.5 for a negative review, < 0.5 for a
positive one; exactly 0.5 is no answer either way); the surest is the one furthest from 0.5, or where the logits
are given, the one whose logit is furthest on the wrong side of 0: an overfit model's P(positive) rounds to exactly
0 or 1 for many reviews (in float32 beyond |logit| ~ 17), where only the logits still order them. A review without a
known word (empty bag of words: the model answers sigmoid of its biases, whatever the review says) has no
prediction (NaN, as predict.py's None) and is never a mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from overfit.checkpoints.classifier import load_classifier
from overfit.data import archive as imdb_archive
from overfit.data.imdb import IMDBDataModule
from overfit.errors import OverfitError
from overfit.models.network import BagOfWordsNet

EXCERPT_CHARS = 300  # of a misclassified review's text: enough to see what it is about


@dataclass(frozen=True)
class Mistake:
    """A test review the model got wrong: its row in the test split, the archive's id and rating (1-10), the true
    label (1 = positive), the model's P(positive) and logit, and the review's text."""

    row: int
    review_id: int
    rating: int
    label: int
    p_positive: float
    logit: float
    text: str

    def excerpt(self, chars: int = EXCERPT_CHARS) -> str:
        """The text on one line (<br /> and runs of whitespace as one space), cut at a word near `chars`."""
        flat = " ".join(re.sub(r"<br\s*/?>", " ", self.text, flags=re.IGNORECASE).split())
        return flat if len(flat) <= chars else flat[:chars].rsplit(" ", 1)[0] + " ..."


@dataclass(frozen=True)
class Inside:
    """What look_inside found: top words by score, the surest mistakes, and every test review's P(positive)."""

    words: dict[str, list[tuple[str, float]]]
    mistakes: list[Mistake]
    p_positive: np.ndarray
    labels: np.ndarray
    logits: np.ndarray


def _check_k(k: int, what: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise OverfitError(f"{what}={k!r} is invalid: use an integer >= 1")


def word_scores(model: BagOfWordsNet, batches: Iterable) -> torch.Tensor:
    """Each word's weight path to the logit (float64, shape (vocab_size,)): dlogit/dx_w averaged over the reviews
    of `batches` ((indices, offsets, ...) tuples), in eval mode. See the module's docstring for why this one."""
    was_training = model.training
    model.eval()
    total, rows = None, 0
    try:
        for batch in batches:
            indices, offsets = batch[0], batch[1]
            with torch.no_grad():
                z1 = model.input(indices, offsets)  # the first layer's pre-activations: linear in x
            z1.requires_grad_(True)
            with torch.enable_grad():
                logits = model.head(z1).squeeze(-1)
                (grad,) = torch.autograd.grad(logits.sum(), z1)  # rows are independent: row r's dlogit/dz1
            total = grad.sum(0, dtype=torch.float64) if total is None else total + grad.sum(0, dtype=torch.float64)
            rows += len(offsets)
    finally:
        model.train(was_training)
    if not rows:
        raise OverfitError("word_scores: no reviews in the batches given; pass a split with at least one review")
    return model.input.bag.weight.detach().double() @ (total / rows)


def top_words(scores: torch.Tensor | np.ndarray, vocabulary: Sequence[str], k: int = 15) -> dict:
    """{"positive": up to k (word, score) with score > 0, largest first; "negative": up to k with score < 0, most
    negative first}. Disjoint by construction; ties keep the vocabulary's order (the most frequent word first)."""
    _check_k(k, "k")
    scores = np.asarray(torch.as_tensor(scores, dtype=torch.float64))
    if scores.shape != (len(vocabulary),):
        raise OverfitError(
            f"top_words: {scores.shape} scores for a vocabulary of {len(vocabulary)} words: "
            "pass the scores of the model whose vocabulary this is"
        )
    order = np.argsort(-scores, kind="stable")
    positive = [(vocabulary[i], float(scores[i])) for i in order[:k] if scores[i] > 0]
    order = np.argsort(scores, kind="stable")
    negative = [(vocabulary[i], float(scores[i])) for i in order[:k] if scores[i] < 0]
    return {"positive": positive, "negative": negative}


def logits(model: BagOfWordsNet, batches: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """(logits, labels) of every review of `batches`, in order, as float64 arrays, in eval mode; NaN where a review
    has no known word (an empty bag). P(positive) = sigmoid(logit), taken in float64 (see `sigmoid`)."""
    was_training = model.training
    model.eval()
    zs, labels = [], []
    try:
        with torch.inference_mode():
            for indices, offsets, y in batches:
                z = model(indices, offsets).double()
                words = torch.diff(offsets, append=torch.tensor([indices.numel()]))
                zs.append(torch.where(words > 0, z, torch.nan).numpy())
                labels.append(y.double().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(zs) if zs else np.zeros(0), np.concatenate(labels) if labels else np.zeros(0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """P(positive) of float64 logits (exactly 0 or 1 only beyond |z| ~ 37, not ~17 as the model's float32 one)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def confident_mistakes(
    p_positive: Sequence[float], labels: Sequence[float], k: int = 5, logits: Sequence[float] | None = None
) -> list[int]:
    """Row numbers of the (at most) k reviews whose P(positive) is furthest on the wrong side of 0.5, the surest
    first, ordered by their `logits` where given (they still differ where P(positive) rounds to 0 or 1); ties in
    row order. NaN: no prediction, skipped."""
    _check_k(k, "k")
    p, y = np.asarray(p_positive, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise OverfitError(f"confident_mistakes: {p.shape} probabilities but {y.shape} labels: pass one per review")
    z = None if logits is None else np.asarray(logits, dtype=np.float64)
    if z is not None and z.shape != p.shape:
        raise OverfitError(f"confident_mistakes: {z.shape} logits but {p.shape} probabilities: pass one per review")
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if bad.any():
        raise OverfitError(
            f"confident_mistakes: P(positive)={float(p[bad][0])!r} is not in [0, 1] (NaN: no prediction)"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise OverfitError(f"confident_mistakes: label {float(y[~np.isin(y, (0.0, 1.0))][0])!r}: labels are 0 or 1")
    wrong = np.where(y == 1, 0.5 - p, p - 0.5)  # > 0: on the wrong side, by that much; NaN stays NaN
    rows = np.flatnonzero(wrong > 0)
    sureness = wrong if z is None else np.where(y == 1, -z, z)  # the logit's distance on the wrong side of 0
    return [int(r) for r in rows[np.argsort(-sureness[rows], kind="stable")][:k]]


def look_inside(ckpt_path: str | Path, data: Mapping, words: int = 15, mistakes: int = 5) -> Inside:
    """Top `words` words each way (scores averaged over the test reviews) and the `mistakes` surest mistakes on the
    test split, for an IMDB checkpoint (load_classifier: checked, one-line errors).

    `data`: the run's data settings (a TrainedRun's config.data, or a dict of IMDBDataModule's arguments: archive,
    data_dir, sha256, ...); the vocabulary and preprocessing come from the checkpoint, as in eval.py. The test split
    comes from the feature cache (built if missing), its texts from the archive (read once, ~3 s)."""
    _check_k(words, "words")
    _check_k(mistakes, "mistakes")
    model, state = load_classifier(ckpt_path)
    settings = {k: v for k, v in dict(data).items() if k != "_target_"}
    # The run's vocab_size names its feature cache (a small archive may give fewer words than asked for: the
    # vocabulary's length would name another cache, built again); load_state_dict checks the words themselves.
    settings.setdefault("vocab_size", len(state["vocabulary"]))
    settings.update(state["preprocessing"])
    try:
        dm = IMDBDataModule(**settings)
    except TypeError as err:  # another datamodule's settings (Iris, a CSV matrix)
        raise OverfitError(
            f"look_inside: data={sorted(settings)} are not IMDB data settings ({err}); pass the IMDB run's config.data"
        ) from None
    dm.prepare_data()
    dm.setup("test")
    dm.load_state_dict(state)  # refuses an archive whose vocabulary is not the checkpoint's
    test = dm.whole_split_dataloader("test")
    found = top_words(word_scores(model, test), state["vocabulary"], words)
    z, labels = logits(model, test)
    p = sigmoid(z)
    path = imdb_archive.locate(dm.archive, dm.data_dir, dm.url, download=False)
    reviews = imdb_archive.read_reviews(path, imdb_archive.verify(path, dm.sha256))["test"]
    # The cache's test rows are the archive's test reviews sorted by (label, id), as read_reviews returns them.
    if len(reviews) != len(labels) or any(r[0] != y for r, y in zip(reviews, labels)):
        raise OverfitError(
            f"the archive {str(path)!r} does not match the feature cache of {dm.data_dir!r} (test reviews or labels "
            "differ): delete that cache directory and run again"
        )
    surest = [
        Mistake(r, reviews[r][1], reviews[r][2], reviews[r][0], float(p[r]), float(z[r]), reviews[r][3])
        for r in confident_mistakes(p, labels, mistakes, logits=z)
    ]
    return Inside(found, surest, p, labels, z)
