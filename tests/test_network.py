"""models/network.py: the classifier's network in plain PyTorch, what predict.py loads instead of the
LightningModule. The same weights under the same names and the same seeded draws as BagOfWordsMLP, and predict.py
answering without importing Lightning or torchmetrics (issue 23: predict.py loads no more than it uses)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import REPO

from overfit.checkpoints.classifier import DATA_STATE_KEY, classifier_from_checkpoint, load_checkpoint
from overfit.data.imdb import IMDBDataModule
from overfit.models.mlp import BagOfWordsMLP
from overfit.models.network import BagOfWordsNet, parameter_count
from overfit.predict import predict_with


@pytest.mark.parametrize("hidden, dropout", [([16, 16], 0.0), ([8], 0.5), ([4, 3, 2], 0.2)])
def test_the_net_is_the_lightning_modules_network(hidden, dropout):
    torch.manual_seed(3)
    mlp = BagOfWordsMLP(vocab_size=50, hidden=hidden, dropout=dropout)
    torch.manual_seed(3)
    net = BagOfWordsNet(vocab_size=50, hidden=hidden, dropout=dropout)
    ours, theirs = mlp.state_dict(), net.state_dict()
    assert list(ours) == list(theirs)  # same names, same order
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)  # same draws from the same seed
    assert parameter_count(50, hidden) == sum(p.numel() for p in net.parameters())
    indices, offsets = torch.tensor([1, 7, 7, 49, 3]), torch.tensor([0, 2, 4])
    mlp.eval(), net.eval()
    assert torch.equal(mlp(indices, offsets), net(indices, offsets))


def test_the_data_state_key_is_the_datamodules_name():
    assert DATA_STATE_KEY == IMDBDataModule.__qualname__  # where Lightning files the datamodule's state_dict


@pytest.mark.slow
def test_predict_loads_no_lightning_and_gives_the_lightning_modules_probabilities(run):
    reviews = ["great wonderful superb movie", "awful boring waste", "the film"]
    code = (
        "import sys\n"
        "from overfit.predict import predict\n"
        f"print(predict({str(run.ckpt)!r}, {reviews!r}))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'torchmetrics', 'pytorch_lightning'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    probabilities, heavy = done.stdout.splitlines()[-2:]
    assert heavy == "[]"
    checkpoint = load_checkpoint(run.ckpt)
    mlp = classifier_from_checkpoint(checkpoint)  # the LightningModule, as eval.py tests it
    expected = predict_with(mlp, checkpoint[DATA_STATE_KEY], reviews)
    assert eval(probabilities) == pytest.approx(expected, abs=1e-7)
