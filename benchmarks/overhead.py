"""Where Lightning's and Hydra's share goes, measured by children of `python -m benchmarks` (`--child NAME`).

epochs      Lightning's epochs against the plain loop's, in one process, interleaved (--epoch-ratio): a
            `train()`-built fit and the plain loop doing a run's duties (train metrics, scalars, checkpoints)
            take turns, each epoch timed from its start to the next one's (checkpoint and logging included),
            both on the one thread count train()'s policy gives the round. On this shared VM single fits vary
            by 1.5x within minutes, and Lightning's Python-heavy loop more than the plain one (it suffers more
            from a neighbour's cache traffic); the fastest epochs of each, side by side, estimate what each
            costs when the machine is quiet.
plainsweep  the six variants as plain PyTorch loops with a run's duties, one after another in one fresh
            process, test included (--sweep): the floor under `python train.py -m model=<six>`, with the
            same imports (the model is a LightningModule), data, epochs (early stopping too), and threads: the
            counts the sweep's runs got when given (`threads`), else train()'s policy run by run.
phases      `train.py -m model=<six>` in this process, each phase timed (data, Trainer, fit, test, Hydra's jobs)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from .loops import CHILDREN, REPO, PlainRun, _datamodule, child_plain, compose, run_threads

SIX = ("baseline", "small", "big", "l2", "dropout", "early_stopping")


def child_plainsweep(overrides: list[str], epochs: int, threads: dict | None = None) -> dict:
    start = time.perf_counter()
    import lightning  # noqa: F401  (what train.py imports; the model class needs it anyway)

    imported = time.perf_counter()
    runs = {
        v: child_plain([f"model={v}", f"trainer.max_epochs={epochs}", *overrides], epochs, True, (threads or {}).get(v))
        for v in SIX
    }
    return {
        "imports_s": imported - start,
        "wall_s": time.perf_counter() - start,
        "fits_s": sum(r["train_s"] for r in runs.values()),
        "epochs": {v: r["epochs"] for v, r in runs.items()},
        "threads": {v: r["threads"] for v, r in runs.items()},
    }


def _lightning_epochs(cfg, datamodule, model) -> list[float]:
    """One fit as train() builds it (callbacks, logger, checkpoints); each epoch from its start to the next's."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from overfit.train import instantiate_all

    stamps: list[float] = []

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            stamps.append(time.perf_counter())

        def on_train_end(self, trainer, module):  # after the last epoch's checkpoint and logging
            stamps.append(time.perf_counter())

    callbacks = instantiate_all(cfg.get("callbacks")) + [EpochTimer()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=instantiate_all(cfg.get("logger")) or False)
    torch.utils.deterministic.fill_uninitialized_memory = False  # as train() sets it
    trainer.fit(model, datamodule=datamodule)
    return [b - a for a, b in zip(stamps, stamps[1:])]


def _plain_epochs(run: PlainRun, epochs: int) -> list[float]:
    """The plain loop doing a run's duties (same model, optimizer, batches, threads), each epoch timed whole."""
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        stop = run.epoch(epoch)
        seconds.append(time.perf_counter() - start)
        if stop:
            break
    run.close()
    return seconds


def child_epochs(overrides: list[str], epochs: int, rounds: int = 4) -> dict:
    import logging
    import warnings

    import lightning as L
    from hydra.utils import instantiate

    warnings.filterwarnings("ignore")  # Lightning's warnings, repeated by every fit of the rounds
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    scratch = Path(tempfile.mkdtemp(prefix="overfit_epochs_"))
    base = [f"trainer.max_epochs={epochs}", f"paths.output_dir={scratch}", "trainer.enable_progress_bar=false"]
    cfg = compose(base + overrides)  # no bar, as in benchmark.py's train.py runs
    datamodule = _datamodule(cfg)
    lightning, plain, threads = [], [], []
    for round_ in range(rounds + 1):  # round 0 warms both up and is dropped
        cfg.paths.output_dir = str(scratch / f"fit_{round_}")
        L.seed_everything(cfg.seed, verbose=False)
        model = instantiate(cfg.model, **datamodule.model_kwargs)
        # one decision of train()'s policy for both sides of the round: auto samples the idle cores, and two
        # samples a second apart may differ; a side on another thread count would measure the load, not the loop
        with run_threads(cfg, model) as count:
            fit = _lightning_epochs(cfg, datamodule, model)
            loop = _plain_epochs(PlainRun(cfg, datamodule, duties=True), epochs)
        if round_:
            skip = 1 if epochs > 1 else 0  # each fit's first epoch pays first-touch costs
            lightning += fit[skip:]
            plain += loop[skip:]
            threads.append(count)

    def quantile(xs: list[float], q: float) -> float:
        return sorted(xs)[round(q * (len(xs) - 1))]

    return {
        "epochs_timed": min(len(lightning), len(plain)),
        "threads": sorted(set(threads)),
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
    "  of which checkpoint saves": [("overfit.checkpoints.io", "AtomicFileCheckpointIO.save_checkpoint")],
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
