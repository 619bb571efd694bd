"""Reading our checkpoints safely, and refusing a bad one in one line before any long work.

The checks that hold for any Lightning checkpoint (weights_only loading, its structure, weights that fit a
model, finite values, the state a resume needs) are checks.py's; here, on top of them, the IMDB classifier's: its
vocabulary and preprocessing, hyper_parameters that build it. Every function raises a one-line OverfitError.

    load_checkpoint(path)                   -> dict   an IMDB classifier's, fully checked (eval / predict)
    load_classifier(path)                   -> (BagOfWordsNet in eval mode, data state)   plain torch: predict
    classifier_from_checkpoint(checkpoint)  -> BagOfWordsMLP in eval mode                 the LightningModule: eval

Nothing here imports Lightning (models/network.py says why): predict.py loads torch only.
"""

from __future__ import annotations

from pathlib import Path

import torch

from overfit.checkpoints.checks import check_weights, describe, fail, read_checkpoint
from overfit.data.text import vocabulary_list
from overfit.models.network import BagOfWordsNet, parameter_count

PREPROCESSING_KEYS = ("lowercase", "strip_html", "strip_punctuation")
# Where IMDBDataModule.state_dict() lies in a checkpoint: Lightning files it under the class's __qualname__
# (a string here, so that reading it imports no Lightning; tests/test_models.py checks it is the class's)
DATA_STATE_KEY = "IMDBDataModule"
IMDB_TRAINED_BY = "pass one written by `python train.py model=<variant>` (a run's checkpoints/last.ckpt)"


def load_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict:
    """An IMDB classifier checkpoint, fully checked before anything long runs; raises a one-line OverfitError.

    read_checkpoint, then: the vocabulary and preprocessing the datamodule saved, hyper_parameters that
    build a BagOfWordsMLP whose vocab_size is the vocabulary's length, and check_weights against that model.
    """
    checkpoint = read_checkpoint(path, key)
    state, hparams = checkpoint.get(DATA_STATE_KEY), checkpoint["hyper_parameters"]
    if state is None or "vocab_size" not in hparams:
        raise fail(
            key,
            path,
            f"holds {describe(checkpoint)}, not an IMDB classifier (no vocabulary); "
            f"eval.py and predict.py take IMDB checkpoints: {IMDB_TRAINED_BY}",
        )
    vocabulary = state.get("vocabulary") if isinstance(state, dict) else None
    if isinstance(vocabulary, str):  # newline-joined (IMDBDataModule.state_dict); earlier checkpoints: a list
        vocabulary = state["vocabulary"] = vocabulary_list(vocabulary)
    preprocessing = state.get("preprocessing") if isinstance(state, dict) else None
    if (
        not isinstance(vocabulary, list)
        or not all(isinstance(w, str) for w in vocabulary)
        or not isinstance(preprocessing, dict)
        or set(preprocessing) - set(PREPROCESSING_KEYS)
        or not all(isinstance(v, bool) for v in preprocessing.values())
    ):
        raise fail(
            key,
            path,
            "its vocabulary or preprocessing settings are malformed (the file was altered); "
            "use another checkpoint of the run or train again",
        )
    if hparams["vocab_size"] != len(vocabulary):
        raise fail(
            key,
            path,
            f"hyper_parameters vocab_size={hparams['vocab_size']} but the vocabulary has "
            f"{len(vocabulary):,} words: the file was altered or assembled from two runs; "
            "use another checkpoint of the run or train again",
        )
    # Built on the CPU (building on the meta device imports torch._dynamo: ~1.3 s of predict.py's time), and only
    # where the hyper_parameters imply weights of the checkpoint's own order of size: absurd ones are refused here.
    held = sum(t.numel() for t in checkpoint["state_dict"].values() if isinstance(t, torch.Tensor))
    try:
        implied = parameter_count(hparams["vocab_size"], hparams.get("hidden", (16, 16)))
        if implied > 4 * held + 1_000_000:
            raise ValueError(f"they imply {implied:,} weights, the file holds {held:,}")
        skeleton = BagOfWordsNet(**hparams)
    except Exception as err:
        raise fail(
            key,
            path,
            f"its hyper_parameters {hparams} do not build the IMDB classifier "
            f"({type(err).__name__}: {err}); use another checkpoint of the run or train again",
        ) from None
    check_weights(checkpoint, skeleton, path, key, against="hyper_parameters")
    return checkpoint


def classifier_from_checkpoint(checkpoint: dict):
    """The LightningModule (BagOfWordsMLP, for Trainer.test) rebuilt from the checkpoint's plain hyperparameters,
    with its weights and epoch (load_checkpoint checks them)."""
    from overfit.models.mlp import BagOfWordsMLP  # Lightning: eval.py's, not predict.py's

    model = BagOfWordsMLP(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)
    return model.eval()


def data_state(checkpoint: dict) -> dict:
    """{"vocabulary": [...], "preprocessing": {...}} as the datamodule saved it."""
    return checkpoint[DATA_STATE_KEY]


def load_classifier(path: str | Path, key: str = "ckpt_path") -> tuple[BagOfWordsNet, dict]:
    """(the network in eval mode, its data state) from a checked IMDB checkpoint: P(positive) without Lightning."""
    checkpoint = load_checkpoint(path, key)
    net = BagOfWordsNet(**checkpoint["hyper_parameters"])
    net.load_state_dict(checkpoint["state_dict"])
    return net.eval(), data_state(checkpoint)
