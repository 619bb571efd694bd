"""Reading our checkpoints safely: `torch.load(weights_only=True)` unpickles tensors and plain
Python containers only, never arbitrary objects, so a checkpoint from elsewhere cannot run code."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from overfit.data.imdb import IMDBDataModule
from overfit.errors import OverfitError
from overfit.models.mlp import BagOfWordsMLP


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise OverfitError(f"ckpt_path={path}: no such file; pass a run's checkpoints/*.ckpt (e.g. last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise OverfitError(f"ckpt_path={path}: not a readable overfit checkpoint ({str(err).splitlines()[0]})") from None
    if "state_dict" not in checkpoint or IMDBDataModule.__qualname__ not in checkpoint:
        raise OverfitError(f"ckpt_path={path}: not an IMDB classifier checkpoint (no model weights or vocabulary); "
                           "pass one written by `python train.py model=<variant>`")
    return checkpoint


def classifier_from_checkpoint(checkpoint: dict) -> BagOfWordsMLP:
    """Rebuild the model from the checkpoint's plain hyperparameters and load its weights."""
    model = BagOfWordsMLP(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)
    return model.eval()


def data_state(checkpoint: dict) -> dict:
    """{"vocabulary": [...], "preprocessing": {...}} as the datamodule saved it."""
    return checkpoint[IMDBDataModule.__qualname__]
