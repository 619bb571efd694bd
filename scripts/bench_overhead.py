"""Where Lightning's and Hydra's share goes, measured by children of scripts/benchmark.py (`--child NAME`).

epochs      Lightning's epochs against the plain loop's, in one process, interleaved (--epoch-ratio): a
            `train.py`-built fit and the loop with train metrics summed per step take turns, each epoch timed
            from its first step to the end of its validation. On this shared VM single fits vary by 1.5x
            within minutes, and Lightning's Python-heavy loop more than the plain one (it suffers more from
            a neighbour's cache traffic), so the ratio of medians of whole fits moves with the minute; the
            fastest epochs of each, side by side, estimate what each costs when the machine is quiet.
plainsweep  the six variants as plain PyTorch loops with a run's duties, one after another in one fresh
            process, test included (--sweep): the floor under `python train.py -m model=<six>`, with the
            same imports (the model is a LightningModule), data, epochs (early stopping too) and threads.
phases      `train.py -m model=<six>` in this process, each phase timed (data, Trainer, fit, test, Hydra's jobs)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench_loops import CHILDREN, REPO, _datamodule, child_plain, compose, train_epoch

SIX = ("baseline", "small", "big", "l2", "dropout", "early_stopping")


def child_plainsweep(overrides: list[str], epochs: int) -> dict:
    start = time.perf_counter()
    import lightning  # noqa: F401  (what train.py imports; the model class needs it anyway)

    imported = time.perf_counter()
    runs = {v: child_plain([f"model={v}", f"trainer.max_epochs={epochs}", *overrides], epochs, True) for v in SIX}
    return {
        "imports_s": imported - start,
        "wall_s": time.perf_counter() - start,
        "fits_s": sum(r["train_s"] for r in runs.values()),
        "epochs": {v: r["epochs"] for v, r in runs.items()},
    }


def _lightning_epochs(cfg, datamodule) -> list[float]:
    """One fit as train() builds it (callbacks, logger, checkpoints, threads); the seconds of each epoch."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from overfit.threads import torch_threads
    from overfit.train import instantiate_all

    seconds: list[float] = []

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.start = time.perf_counter()

        def on_validation_end(self, trainer, module):  # before the epoch's checkpoint, as in the plain loop
            seconds.append(time.perf_counter() - self.start)

    L.seed_everything(cfg.seed, verbose=False)
    model = instantiate(cfg.model, **datamodule.model_kwargs)
    torch.set_num_threads(torch_threads(cfg.get("cpu_threads"), model))
    callbacks = instantiate_all(cfg.get("callbacks")) + [EpochTimer()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=instantiate_all(cfg.get("logger")) or False)
    torch.utils.deterministic.fill_uninitialized_memory = False  # as train() sets it
    trainer.fit(model, datamodule=datamodule)
    return seconds


def _plain_epochs(cfg, datamodule, epochs: int) -> list[float]:
    """The plain loop of bench_loops (same model, optimizer, batches, threads), train metrics summed per step."""
    import torch
    from hydra.utils import instantiate

    from overfit.models.mlp import EpochTotals
    from overfit.threads import torch_threads

    torch.manual_seed(cfg.seed)
    model = instantiate(cfg.model, **datamodule.model_kwargs)
    torch.set_num_threads(torch_threads(cfg.get("cpu_threads"), model))
    optimizer, totals, val_totals = model.configure_optimizers(), EpochTotals(), EpochTotals()
    train_loader, val_loader = datamodule.train_dataloader(), datamodule.val_dataloader()
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        train_loader.batch_sampler.set_epoch(epoch)
        train_epoch(model, optimizer, train_loader, totals)
        model.eval()
        with torch.no_grad():
            for indices, offsets, labels in val_loader:
                logits = model(indices, offsets)
                val_totals.update(model.loss_fn(logits, labels), logits, labels)
        model.train()
        for sums in (totals, val_totals):  # read as Lightning's epoch-end logging reads them
            float(sums.compute()["loss"])
            sums.reset()
        seconds.append(time.perf_counter() - start)
    return seconds


def child_epochs(overrides: list[str], epochs: int, rounds: int = 4) -> dict:
    import logging
    import warnings

    warnings.filterwarnings("ignore")  # Lightning's warnings, repeated by every fit of the rounds
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    scratch = Path(tempfile.mkdtemp(prefix="overfit_epochs_"))
    base = [f"trainer.max_epochs={epochs}", f"paths.output_dir={scratch}", "trainer.enable_progress_bar=false"]
    cfg = compose(base + overrides)  # no bar, as in benchmark.py's train.py runs
    datamodule = _datamodule(cfg)
    lightning, plain = [], []
    for round_ in range(rounds + 1):  # round 0 warms both up and is dropped
        cfg.paths.output_dir = str(scratch / f"fit_{round_}")
        fit, loop = _lightning_epochs(cfg, datamodule), _plain_epochs(cfg, datamodule, epochs)
        if round_:
            skip = 1 if epochs > 1 else 0  # each fit's first epoch pays first-touch costs
            lightning += fit[skip:]
            plain += loop[skip:]

    def quantile(xs: list[float], q: float) -> float:
        return sorted(xs)[round(q * (len(xs) - 1))]

    return {
        "epochs_timed": len(lightning),
        **{f"lightning_{k}_s": f(lightning) for k, f in (("min", min), ("median", statistics.median))},
        **{f"plain_{k}_s": f(plain) for k, f in (("min", min), ("median", statistics.median))},
        "lightning_p25_s": quantile(lightning, 0.25),
        "plain_p25_s": quantile(plain, 0.25),
    }


CHILDREN["plainsweep"] = child_plainsweep
CHILDREN["epochs"] = child_epochs


# ---- where a sweep's time goes ----------------------------------------------------------------------------------
# (module, attribute) timed when called; nested calls count in both (fit includes its checkpoint saves). A name
# is patched where its caller looks it up: overfit.train imports log_hparams and print_summary by name.
PHASES = {
    "data: prepare_data + setup": [
        ("overfit.data.imdb", "IMDBDataModule.prepare_data"),
        ("overfit.data.imdb", "IMDBDataModule.setup"),
    ],
    "Trainer construction": [("lightning.pytorch", "Trainer.__init__")],
    "fit": [("lightning.pytorch", "Trainer.fit")],
    "  of which checkpoint saves": [("overfit.checkpoint_io", "AtomicFileCheckpointIO.save_checkpoint")],
    "test (25k reviews)": [("lightning.pytorch", "Trainer.test")],
    "checkpoint loads": [("torch", "load")],
    "Hydra job (launch to return)": [("hydra.core.utils", "run_job")],
    "  of which train()": [("overfit.train", "train")],
    "  HPARAMS + summary + metrics.json": [
        ("overfit.train", "log_hparams"),
        ("overfit.train", "print_summary"),
    ],
}


def child_phases(overrides: list[str], epochs: int) -> dict:
    """`train.py -m model=<six> seed=0` in this process, the time of each phase summed over the six runs."""
    start = time.perf_counter()
    import functools
    import importlib
    import runpy
    import sys

    totals = {name: 0.0 for name in PHASES}
    for name, targets in PHASES.items():
        for module_name, attr in targets:
            owner = importlib.import_module(module_name)
            *path, leaf = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = getattr(owner, leaf)

            @functools.wraps(original)
            def timed(*args, _original=original, _name=name, **kwargs):
                t = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    totals[_name] += time.perf_counter() - t

            setattr(owner, leaf, timed)
    imported = time.perf_counter()
    sys.argv = ["train.py", "-m", f"model={','.join(SIX)}", "seed=0"]
    sys.argv += [f"trainer.max_epochs={epochs}", "trainer.enable_progress_bar=false", *overrides]
    try:
        runpy.run_path(str(REPO / "train.py"), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    done = time.perf_counter()
    return {"imports_s": imported - start, "sweep_s": done - imported, **{k + " s": v for k, v in totals.items()}}


CHILDREN["phases"] = child_phases
