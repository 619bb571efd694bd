"""overfit.compare.inside: word scores (weight paths) on hand-built models whose answer is known, the surest mistakes
on known probabilities, and look_inside on a trained tiny classifier (texts aligned with the test rows)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import VOCAB, make_imdb_archive

from overfit.compare.inside import confident_mistakes, logits, look_inside, sigmoid, top_words, word_scores
from overfit.errors import OverfitError
from overfit.models.mlp import BagOfWordsMLP

WORDS = ["the", "film", "good", "great", "bad", "awful"]


def batch(reviews: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(indices, offsets, labels) of reviews given as word ids (labels: 0, unused by the scores)."""
    offsets = np.cumsum([0] + [len(r) for r in reviews[:-1]])
    flat = [w for r in reviews for w in r]
    return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long), torch.zeros(len(reviews))


def model_with(w1: list[list[float]], b1: list[float], head: list[tuple[list[list[float]], list[float]]]):
    """A BagOfWordsMLP with the given weights: w1 is (vocab, hidden[0]) as the EmbeddingBag holds it, head the
    (weight, bias) of each Linear after it."""
    hidden = [len(b1)] + [len(b) for _, b in head[:-1]]
    model = BagOfWordsMLP(vocab_size=len(w1), hidden=hidden, dropout=0.5)
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model.input.bag.weight.copy_(torch.tensor(w1))
        model.input.bias.copy_(torch.tensor(b1))
        for linear, (w, b) in zip(linears, head):
            linear.weight.copy_(torch.tensor(w))
            linear.bias.copy_(torch.tensor(b))
    return model.train()  # word_scores must switch dropout off itself


def test_with_every_relu_open_a_words_score_is_its_weight_product():
    # words: the, film (no effect), good, great (+), bad, awful (-); large biases keep every unit open
    w1 = [[0, 0], [0, 0], [1, 0], [2, 0], [0, 1], [0, 3]]
    model = model_with(w1, [10, 10], [([[1.0, -1.0], [0.5, -0.5]], [10, 10]), ([[2.0, 1.0]], [0.0])])
    scores = word_scores(model, [batch([[0, 2], [1, 3, 5], [4]])])
    w2, w3 = model.head[2].weight.double(), model.head[5].weight.double()
    product = (w3 @ w2 @ model.input.bag.weight.double().T)[0]  # (W3 W2 W1)[w]
    torch.testing.assert_close(scores, product.detach())
    assert scores.tolist() == pytest.approx([0, 0, 2.5, 5, -2.5, -7.5])
    assert model.training  # left as it was
    top = top_words(scores, WORDS, k=3)
    assert top == {"positive": [("great", 5.0), ("good", 2.5)], "negative": [("awful", -7.5), ("bad", -2.5)]}


def test_a_path_counts_in_the_share_of_reviews_where_its_relu_is_open():
    # one hidden unit, no bias: open for the review holding "good" (z = 2), closed for the one holding "bad" (z = -1)
    model = model_with([[0], [0], [2], [0], [-1], [0]], [0.0], [([[3.0]], [0.0])])
    scores = word_scores(model, [batch([[0, 2]]), batch([[1, 4]])])  # averaged over batches too
    # dlogit/dz1 is 3 for the first review, 0 for the second: mean 1.5. (ReLUs ignored: W3 W1 = [.., 6, .., -3, ..];
    # at the empty review, z = 0: ReLU'(0) = 0, every score 0.)
    assert scores.tolist() == pytest.approx([0, 0, 3.0, 0, -1.5, 0])
    assert top_words(scores, WORDS, k=5) == {"positive": [("good", 3.0)], "negative": [("bad", -1.5)]}


def test_top_words_keeps_k_each_way_disjoint_and_ties_in_vocabulary_order():
    scores = np.array([0.0, 1.0, 3.0, 1.0, -2.0, -0.5])
    assert top_words(scores, WORDS, k=2) == {
        "positive": [("good", 3.0), ("film", 1.0)],
        "negative": [("bad", -2.0), ("awful", -0.5)],
    }
    assert top_words(np.zeros(6), WORDS) == {"positive": [], "negative": []}
    with pytest.raises(OverfitError, match=r"\(5,\) scores for a vocabulary of 6 words"):
        top_words(np.zeros(5), WORDS)
    with pytest.raises(OverfitError, match="k=0 is invalid"):
        top_words(scores, WORDS, k=0)


def test_confident_mistakes_are_ordered_by_how_far_on_the_wrong_side():
    p = [0.9, 0.2, 0.6, 0.5, math.nan, 0.99, 0.1, 0.3]
    y = [0, 1, 1, 0, 1, 0, 0, 1]
    # wrong by: 0.4, 0.3, -, (0.5: no answer), (NaN: no prediction), 0.49, -, 0.2
    assert confident_mistakes(p, y, k=10) == [5, 0, 1, 7]
    assert confident_mistakes(p, y, k=2) == [5, 0]
    assert confident_mistakes([0.7, 0.7], [0, 0]) == [0, 1]  # ties: row order
    assert confident_mistakes([0.7], [1]) == []


def test_logits_order_the_mistakes_whose_probability_rounds_to_0_or_1():
    z = np.array([20.0, 35.0, -50.0, 30.0, 3.0])  # float32's sigmoid: 1.0 from ~17 on
    p = torch.sigmoid(torch.tensor(z, dtype=torch.float32)).double().numpy()
    y = [0, 0, 1, 0, 1]
    assert p[[0, 1, 3]].tolist() == [1.0, 1.0, 1.0] and confident_mistakes(p, y) == [0, 1, 2, 3]  # tied: row order
    assert confident_mistakes(p, y, logits=z) == [2, 1, 3, 0]
    assert sigmoid(z)[1] < 1.0 and sigmoid(z)[2] > 0.0  # float64 keeps them apart up to |z| ~ 37
    with pytest.raises(OverfitError, match=r"\(4,\) logits but \(5,\) probabilities"):
        confident_mistakes(p, y, logits=z[:4])


@pytest.mark.parametrize(
    "p,y,match",
    [
        ([0.5, 0.5], [0], r"\(2,\) probabilities but \(1,\) labels"),
        ([1.5], [0], r"P\(positive\)=1.5 is not in \[0, 1\]"),
        ([0.5], [2], "label 2.0: labels are 0 or 1"),
    ],
)
def test_confident_mistakes_refuses_bad_input_in_one_line(p, y, match):
    with pytest.raises(OverfitError, match=match):
        confident_mistakes(p, y)


def test_logits_in_order_with_nan_for_a_review_without_a_known_word():
    model = model_with([[0], [0], [2], [0], [-1], [0]], [0.0], [([[3.0]], [0.0])])
    indices, offsets, _ = batch([[2], [4], [0]])
    empty = (torch.tensor([2]), torch.tensor([0, 1]), torch.tensor([1.0, 0.0]))  # the second review has no word
    z, labels = logits(model, [(indices, offsets, torch.tensor([1.0, 0.0, 1.0])), empty])
    assert z[:4].tolist() == [6.0, 0.0, 0.0, 6.0] and math.isnan(z[4])  # ReLU(2) * 3; ReLU(-1) * 3; no word
    assert labels.tolist() == [1, 0, 1, 1, 0]
    assert model.training  # left as it was (dropout off while measuring)


@pytest.mark.slow
def test_look_inside_a_trained_classifier(run, tmp_path):
    from overfit.checkpoints.classifier import load_classifier
    from overfit.predict import predict_with

    data = {"archive": str(run.archive), "data_dir": str(run.tmp / "data"), "sha256": None, "val_size": 40}
    inside = look_inside(run.ckpt, {**data, "vocab_size": VOCAB}, words=5, mistakes=4)
    positive, negative = ([w for w, _ in inside.words[side]] for side in ("positive", "negative"))
    assert positive and negative and not set(positive) & set(negative)
    assert all(s > 0 for _, s in inside.words["positive"]) and all(s < 0 for _, s in inside.words["negative"])
    assert len(inside.p_positive) == len(inside.labels) == 120  # the tiny archive's test split
    assert inside.mistakes, "a 3-epoch model on 80 reviews gets some of the 120 wrong"
    wrong_by = [abs(m.logit) for m in inside.mistakes]
    assert wrong_by == sorted(wrong_by, reverse=True)
    for m in inside.mistakes:
        assert m.p_positive == pytest.approx(float(sigmoid(m.logit)))
        assert (m.p_positive > 0.5) != bool(m.label) and m.p_positive != 0.5
        assert (m.rating >= 7) == bool(m.label)  # the archive's own label: pos/ holds ratings 7-10
        # the text is the row's review: predicted from scratch, it gets the same probability
        assert predict_with(*load_classifier(run.ckpt), [m.text]) == [pytest.approx(m.p_positive, abs=1e-6)]
        assert len(m.excerpt(40)) <= 44 and "<br" not in m.excerpt()

    other = make_imdb_archive(tmp_path / "other.tar.gz", seed=7)  # same words, other counts: another vocabulary
    with pytest.raises(OverfitError, match="vocabulary .* differs from this data config's"):
        look_inside(run.ckpt, {**data, "archive": str(other), "data_dir": str(tmp_path / "data")})
    with pytest.raises(OverfitError, match="mistakes=0 is invalid"):
        look_inside(run.ckpt, data, mistakes=0)
    with pytest.raises(OverfitError, match=r"are not IMDB data settings .*'rank'.*pass the IMDB run's config.data"):
        look_inside(run.ckpt, {**data, "rank": 2})
