"""Reading our checkpoints safely, and refusing a bad one in one line before any long work.

The checks that hold for any Lightning checkpoint (weights_only loading, its structure, weights that fit a
model, finite values, the state a resume needs) are checks.py's; here, on top of them, the IMDB classifier's: its
vocabulary and preprocessing, hyper_parameters that build it. Every function raises a one-line OverfitError.

    load_checkpoint(path)                   -> dict   an IMDB classifier's, fully checked (eval / predict)
    load_classifier(path)                   -> (BagOfWordsMLP in eval mode, data state)
"""

from __future__ import annotations

from pathlib import Path

import torch

from overfit.checkpoints.checks import check_weights, describe, fail, read_checkpoint
from overfit.data.imdb import IMDBDataModule
from overfit.data.text import vocabulary_list
from overfit.models.mlp import BagOfWordsMLP

PREPROCESSING_KEYS = ("lowercase", "strip_html", "strip_punctuation")
IMDB_TRAINED_BY = "pass one written by `python train.py model=<variant>` (a run's checkpoints/last.ckpt)"


def load_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict:
    """An IMDB classifier checkpoint, fully checked before anything long runs; raises a one-line OverfitError.

    read_checkpoint, then: the vocabulary and preprocessing the datamodule saved, hyper_parameters that
    build a BagOfWordsMLP whose vocab_size is the vocabulary's length, and check_weights against that model.
    """
    checkpoint = read_checkpoint(path, key)
    state, hparams = checkpoint.get(IMDBDataModule.__qualname__), checkpoint["hyper_parameters"]
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
    try:
        with torch.device("meta"):  # names and shapes only: no memory, even for absurd hyper_parameters
            skeleton = BagOfWordsMLP(**hparams)
    except Exception as err:
        raise fail(
            key,
            path,
            f"its hyper_parameters {hparams} do not build the IMDB classifier "
            f"({type(err).__name__}: {err}); use another checkpoint of the run or train again",
        ) from None
    check_weights(checkpoint, skeleton, path, key, against="hyper_parameters")
    return checkpoint


def classifier_from_checkpoint(checkpoint: dict) -> BagOfWordsMLP:
    """Rebuild the model from the checkpoint's plain hyperparameters and load its weights (load_checkpoint checks)."""
    model = BagOfWordsMLP(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)
    return model.eval()


def data_state(checkpoint: dict) -> dict:
    """{"vocabulary": [...], "preprocessing": {...}} as the datamodule saved it."""
    return checkpoint[IMDBDataModule.__qualname__]


def load_classifier(path: str | Path, key: str = "ckpt_path") -> tuple[BagOfWordsMLP, dict]:
    """(the classifier in eval mode, its data state) from a checked IMDB checkpoint."""
    checkpoint = load_checkpoint(path, key)
    return classifier_from_checkpoint(checkpoint), data_state(checkpoint)
