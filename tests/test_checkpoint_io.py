"""Checkpoints are written straight to disk and renamed into place: a failed write never touches the old file."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from overfit.checkpoints.io import AtomicFileCheckpointIO


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_round_trip_and_no_partial_file_left(tmp_path):
    io = AtomicFileCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"  # the directory does not exist yet
    io.save_checkpoint({"epoch": 3, "weights": torch.arange(5.0)}, path)
    loaded = io.load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["weights"], torch.arange(5.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    io = AtomicFileCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1}, path)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        io.save_checkpoint({"epoch": 2, "bad": Unpicklable()}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_the_configured_trainer_writes_with_it(train_cfg):
    trainer = instantiate(train_cfg().trainer)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicFileCheckpointIO)
