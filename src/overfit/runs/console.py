"""What a run shows on the terminal besides the bar and the summary: only lines a user can act on.

    quiet_lightning()   Lightning's lines printed once, plainly; those nobody running this project can act on dropped
    LayerSummary        the model summary callback: the layers that hold weights and their parameter counts
    RunCheckpoint       ModelCheckpoint without its "directory exists and is not empty" warning on a normal resume

Each filter matches one message by its start, so any other tip, line or warning still shows.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary
from torch import nn

from overfit import shown

LIGHTNING = ("lightning.pytorch", "lightning.fabric")
NOT_EMPTY = "exists and is not empty"  # ModelCheckpoint's "Checkpoint directory <dir> exists and is not empty."
# Where Lightning logs what follows: rank_zero_info (both packages point lightning_utilities at their own logger;
# the last one imported wins) and seed_everything.
_SOURCES = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.fabric.utilities.seed",
)
_DROPPED = tuple(
    re.compile(r"(\[rank: \d+\] )?" + pattern)
    for pattern in (
        "💡 Tip:",  # advertisements for Lightning's cloud services, printed by every Trainer
        r"Seed set to \d+",  # the summary's first line names the seed
        r"GPU available: False, used: False",  # nothing there to use (a GPU left unused gets its own warning)
        r"TPU available: False, using: 0 TPU cores",
        # The summary's `epochs` line says it. Printed under the open bar, it also made the terminal show the last
        # epoch's bar twice (tqdm and Rich draw it again when the bar closes).
        r"`Trainer\.fit` stopped: `max_epochs=\d+` reached\.",
        # A resume: our own line names the checkpoint and its epoch; the test of a best checkpoint: the summary.
        "Restoring states from the checkpoint path at ",
        "Restored all states from the checkpoint at ",
        "Loaded model weights from the checkpoint at ",
        "Trainer already configured with model summary callbacks",  # LayerSummary, ours on purpose
    )
)
_WARNINGS = (
    # Lightning 2.6's own use of torch's pytree API, deprecated in torch 2.10+: Lightning's to fix, not ours.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # On purpose: BagOfWordsMLP.transfer_batch_to_device hands batches already on the device back unwalked.
    r"You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a `LightningDataModule`",
    # Wherever `srun` is installed: "prepend srun" is not how this project runs on SLURM (hydra/launcher=slurm,
    # docs/sweeps.md); the hint repeats the command line, cut off mid-word.
    r"The `srun` command is available on your system but is not used",
)


class _Drop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(p.match(message) for p in _DROPPED)


def quiet_lightning() -> None:
    """Idempotent; call it once Lightning is imported.

    Lightning's packages propagate their records to the root logger when the root has handlers as they are
    imported (Hydra's job logging, configured before train.py imports Lightning), and the top `lightning`
    package prints them too, through a handler of its own: every line twice, once with a timestamp. They get
    one plain stderr handler each instead, as Lightning gives them when imported first (runs/train_log.py adds
    the run's train.log to them while a run runs)."""
    for name in LIGHTNING:
        logger = logging.getLogger(name)
        if logger.propagate:
            logger.addHandler(logging.StreamHandler())
            logger.propagate = False
    for name in _SOURCES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) for f in logger.filters):
            logger.addFilter(_Drop())
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)


class LayerSummary(ModelSummary):
    """Lightning's ModelSummary callback (so Lightning adds no default one) printing what a user wants of it: each
    layer that holds weights, its shape and parameter count. Lightning's table also listed the loss function and
    the metric containers (0 parameters), a FLOPs column of zeros (it counts FLOPs only for a model with an
    example_input_array) and every module's train/eval mode. `enabled`: trainer.enable_model_summary."""

    def __init__(self, enabled: bool = True):
        super().__init__(max_depth=1 if enabled else 0)
        self.enabled = enabled

    def on_fit_start(self, trainer, pl_module) -> None:
        if self.enabled and trainer.is_global_zero:
            shown.show(layer_table(pl_module))  # printed, and kept in the run's train.log


def _layers(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module | nn.Parameter]]:
    """The weight-holding layers under `module`: containers opened, parameterless modules left out."""
    found: list[tuple[str, nn.Module | nn.Parameter]] = []
    if not prefix:  # the model's own parameters (the factorization's U and V)
        found += list(module.named_parameters(recurse=False))
    for name, child in module.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if isinstance(child, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            found += _layers(child, f"{prefix}{name}.")
        else:
            found.append((prefix + name, child))
    return found


# The attributes that name a layer's input and output widths: nn.Linear's, nn.Embedding(Bag)'s.
_WIDTHS = (("in_features", "out_features"), ("num_embeddings", "embedding_dim"))


def _shape(layer: nn.Module | nn.Parameter) -> str:
    """`in -> out` from the first module within the layer (itself first) that names its widths, as SparseLinear's
    EmbeddingBag does; a bare parameter's shape."""
    if isinstance(layer, nn.Parameter):
        return " x ".join(f"{n:,}" for n in layer.shape)
    for module in layer.modules():
        for width_in, width_out in _WIDTHS:
            if isinstance(getattr(module, width_in, None), int) and isinstance(getattr(module, width_out, None), int):
                return f"{getattr(module, width_in):,} -> {getattr(module, width_out):,}"
    return ""


def layer_table(model: nn.Module) -> str:
    """`model    BagOfWordsMLP: 160,305 parameters`, then one line per layer: name, type, in -> out, parameters."""
    total = sum(p.numel() for p in model.parameters())
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    rows = []
    for name, layer in _layers(model):
        bare = isinstance(layer, nn.Parameter)
        count = layer.numel() if bare else sum(p.numel() for p in layer.parameters())
        rows.append((name, "Parameter" if bare else type(layer).__name__, _shape(layer), f"{count:,}"))
    head = f"model    {type(model).__name__}: {total:,} parameters" + (f" ({frozen:,} frozen)" if frozen else "")
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(4)]
    lines = [
        f"  {n:<{widths[0]}}  {t:<{widths[1]}}  {s:<{widths[2]}}  {c:>{widths[3]}}".rstrip() for n, t, s, c in rows
    ]
    return "\n".join([head, *lines])


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, quiet where its "Checkpoint directory ... exists and is not empty" says
    nothing: a run resumed from a checkpoint in this same directory (`ckpt_path=last hydra.run.dir=<run>`, the
    command the summary prints). A fresh run into a directory that holds files still gets the warning, as
    Lightning wrote it.

    Lightning warns in `setup`, before it knows which checkpoint fit resumes from (`trainer.ckpt_path` is set
    when it restores, before `on_fit_start`): the warnings of `setup` are held until then, and given as they were
    unless the run resumes from this directory."""

    _held: list = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            super().setup(trainer, pl_module, stage)
            return
        with warnings.catch_warnings(record=True) as held:
            warnings.simplefilter("always")  # held, not shown: the filters apply when they are given back
            super().setup(trainer, pl_module, stage)
        self._held = held

    def on_fit_start(self, trainer, pl_module) -> None:
        held, self._held = self._held, []
        resumed = (
            trainer.ckpt_path
            and self.dirpath
            and Path(trainer.ckpt_path).resolve().parent == Path(self.dirpath).resolve()
        )
        for w in held:
            if not (resumed and NOT_EMPTY in str(w.message)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        super().on_fit_start(trainer, pl_module)
