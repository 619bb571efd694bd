"""Checking any Lightning checkpoint before it is used: readable, a checkpoint, weights that fit, finite.

`torch.load(weights_only=True)` unpickles tensors and plain Python containers only, never arbitrary
objects, so a checkpoint from elsewhere cannot run code. On top of that every file is checked here:
a regular, non-empty file that torch can read to its end, a Lightning checkpoint (a dict with a
`state_dict` of tensors and `hyper_parameters`), weights with the names and shapes the model needs,
and finite values. Each failure is an OverfitError whose single line names the file, what is wrong
with it and what to do. Nothing here knows the IMDB classifier: that is classifier.py.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import nn

from overfit.errors import OverfitError

TRAINED_BY = "pass one written by train.py (a run's checkpoints/last.ckpt)"


def fail(key: str, path, what: str) -> OverfitError:
    """`<key>=<path>: <what>` on one line, whatever the path or a library's message holds."""
    return OverfitError(" ".join(f"{key}={path}: {what}".split("\n")).replace("\r", " "))


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _names(names, limit: int = 4) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def describe(checkpoint: Mapping) -> str:
    """What a checkpoint holds, for messages: "a 'factorization' model (weights U, V)"."""
    variant = (checkpoint.get("hyper_parameters") or {}).get("variant")
    name = f"a {variant!r} model" if isinstance(variant, str) else "a model"
    return f"{name} (weights {_names(map(str, checkpoint.get('state_dict') or {}), 3)})"


def read_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict:
    """Load any Lightning checkpoint with weights_only=True, or raise a one-line OverfitError.

    Checks: the path is a regular non-empty file, torch reads it to its end without running code, and it
    holds a dict with `state_dict` (names -> tensors) and `hyper_parameters` (a dict). Nothing about which
    model it is for: see check_weights / load_checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        inside = next((p for p in (path / "last.ckpt", path / "checkpoints" / "last.ckpt") if p.is_file()), None)
        hint = f"e.g. {key}={inside}" if inside else "e.g. <run>/checkpoints/last.ckpt"
        raise fail(key, path, f"is a directory, not a checkpoint file; pass a .ckpt file inside it, {hint}")
    if path.is_symlink() and not path.exists():
        raise fail(
            key,
            path,
            f"is a link to {path.readlink()}, which no longer exists; "
            "pass another checkpoint of the run (e.g. its newest epoch_*.ckpt)",
        )
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a regular file"
        raise fail(key, path, f"{what}; {TRAINED_BY}")
    size = path.stat().st_size
    if size == 0:
        raise fail(
            key,
            path,
            "is empty (0 bytes): its write was cut short (crash, full disk); "
            "use another checkpoint of the run (e.g. epoch_*.ckpt) or train again",
        )
    try:
        with path.open("rb") as f:
            head = f.read(4)
        with warnings.catch_warnings():  # torch warns about pickle protocols on the way to its error
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise fail(key, path, "cannot be read (permission denied); fix its permissions or copy it") from None
    except Exception as err:  # torch's messages name neither the file nor a fix, and may span many lines
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found:  # a complete torch file, refused by weights_only
            what = (
                f"holds Python objects ({found.group(1)}) besides tensors and plain data, so it is not loaded "
                f"(that could run code); {TRAINED_BY}"
            )
        elif head == b"PK\x03\x04":  # torch's zip format: the file starts like one but does not read to its end
            what = (
                f"is damaged or incomplete ({size:,} bytes; a torch zip file that does not read to its end, "
                "e.g. a copy or download cut short); copy it again or use another checkpoint of the run"
            )
        else:
            what = f"is not a torch checkpoint (unreadable: {type(err).__name__}); {TRAINED_BY}"
        raise fail(key, path, what) from None
    if not isinstance(checkpoint, dict):
        raise fail(key, path, f"holds a {type(checkpoint).__name__}, not a Lightning checkpoint (a dict); {TRAINED_BY}")
    weights = checkpoint.get("state_dict")
    if weights is None and checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise fail(key, path, f"is a bare state_dict (weights only: no hyper_parameters, no vocabulary); {TRAINED_BY}")
    if not isinstance(weights, dict) or not isinstance(checkpoint.get("hyper_parameters"), dict):
        found = _names(map(str, checkpoint), 5) or "nothing"
        raise fail(
            key,
            path,
            f"is a torch file but not a Lightning checkpoint (no state_dict and hyper_parameters; "
            f"it holds {found}); {TRAINED_BY}",
        )
    bad = [str(name) for name, value in weights.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise fail(
            key,
            path,
            f"state_dict entries that are not tensors ({_names(bad)}): the file was altered; "
            "use another checkpoint of the run or train again",
        )
    return checkpoint


def _non_finite(tree, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor in a nest of dicts/lists that holds nan or inf."""
    if isinstance(tree, torch.Tensor):
        if (tree.is_floating_point() or tree.is_complex()) and not bool(torch.isfinite(tree).all()):
            yield prefix, tree
    elif isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from _non_finite(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _non_finite(v, f"{prefix}[{i}]")


def check_weights(
    checkpoint: Mapping,
    model: nn.Module,
    path: str | Path,
    key: str = "ckpt_path",
    optimizer: bool = False,
    against: str | None = None,
) -> None:
    """Raise a one-line OverfitError unless the checkpoint's state_dict fits `model` and is finite.

    `model` is the module the weights will be loaded into (any device, `meta` included: only names and
    shapes are read). Checks: the same parameter/buffer names (else: a checkpoint of another model),
    the same shapes, no nan/inf in any floating tensor; with `optimizer=True` also none in
    `optimizer_states` (a resume). `against` words the shape message ("this model" by default).
    """
    weights = checkpoint["state_dict"]
    expected = model.state_dict()
    missing, unexpected = [k for k in expected if k not in weights], [k for k in weights if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {_names(missing)}"] if missing else []) + (
            [f"unexpected {_names(map(str, unexpected))}"] if unexpected else []
        )
        raise fail(
            key,
            path,
            f"holds {describe(checkpoint)}, not this model's weights ({'; '.join(parts)}): "
            f"it is a checkpoint of another model; pass one of a run with this model's config",
        )
    for name, want in expected.items():
        got = weights[name]
        if tuple(got.shape) != tuple(want.shape):
            hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if k != "variant"}
            if against:
                what = (
                    f"its weights do not match its own hyper_parameters ({name} is {_shape(got.shape)}, "
                    f"{against} {hparams} give {_shape(want.shape)}): the file was altered or assembled "
                    "from two runs; use another checkpoint of the run or train again"
                )
            else:
                what = (
                    f"{name} is {_shape(got.shape)} in the checkpoint but {_shape(want.shape)} in this model: "
                    f"use the model and data settings it was trained with (its hyper_parameters: {hparams})"
                )
            raise fail(key, path, what)
    trees = [("", weights)] + ([("optimizer_states", checkpoint.get("optimizer_states") or [])] if optimizer else [])
    for prefix, tree in trees:
        for name, tensor in _non_finite(tree, prefix):
            count = int((~torch.isfinite(tensor)).sum())
            raise fail(
                key,
                path,
                f"{name} holds {count:,} nan/inf of {tensor.numel():,} values: the run diverged "
                "before this save; use an earlier checkpoint (epoch_*.ckpt) or train again "
                "with a lower model.optimizer.lr",
            )


def check_resumable(path: str | Path, model: nn.Module, key: str = "ckpt_path", checkpoint: dict | None = None) -> dict:
    """The checkpoint at `path`, checked for resuming `model` with `trainer.fit(ckpt_path=path)`.

    read_checkpoint (unless `checkpoint`, already read from `path`, is given), the training state
    Lightning needs (epoch, global_step, loops, optimizer_states: absent with save_weights_only), then
    check_weights(..., optimizer=True). Returns the checkpoint dict. Raises a one-line OverfitError.
    """
    checkpoint = read_checkpoint(path, key) if checkpoint is None else checkpoint
    missing = [k for k in ("epoch", "global_step", "loops", "optimizer_states") if k not in checkpoint]
    if missing:
        raise fail(
            key,
            path,
            f"holds weights but no training state ({_names(missing)} missing; saved with "
            "save_weights_only?), so a run cannot resume from it; pass a run's last.ckpt",
        )
    check_weights(checkpoint, model, path, key, optimizer=True)
    return checkpoint
