"""The measurements `python -m benchmarks` runs, each in a fresh process of its own (`--child NAME`).

    data    import time, then IMDBDataModule.prepare_data() + setup(): the datamodule train.py would build
    plain   the same sparse model (BagOfWordsMLP), optimizer and batches as train.py, trained by a plain PyTorch
            loop (no Lightning): per-epoch validation, no checkpoints. The yardstick for Lightning's overhead.
    duties  the plain loop doing a run's per-epoch duties too, as train.py does them: train metrics summed per
            step, four TensorBoard scalars and a checkpoint (weights, optimizer, vocabulary; atomic) per epoch
    dense   the notebook's way: dense float32 multi-hot rows, nn.Linear layers, DataLoader(TensorDataset)

Threads follow train()'s policy (`run_threads`): torch_threads(cpu_threads, model) once the model is built,
torch's setting restored after the run; or, given `threads`, the count the train.py run beside it got (auto
decides from the cores idle at that moment, and two decisions a minute apart can differ). Each child returns a
dict that benchmark.py prints as one JSON line; the table: table.py.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Written by record_threads() beside each train.py run's metrics.json: the torch threads that run trained on.
THREADS_FILE = "benchmark_threads.json"


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def _datamodule(cfg):
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


@contextmanager
def run_threads(cfg, model, threads: int | None = None):
    """train()'s thread policy around one run: the count for this model (or `threads`), torch's restored after."""
    import torch

    from overfit.runs.threads import torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(threads or torch_threads(cfg.get("cpu_threads"), model))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def record_threads():
    """A callback for train.py's runs (`+callbacks.benchmark_threads._target_=benchmarks.loops.record_threads`):
    writes the thread count train() gave the run beside its metrics.json, for the plain loop to train on the same.
    A factory, so that importing this module imports no Lightning (the data child times that import)."""
    import lightning as L
    import torch

    class RecordThreads(L.Callback):
        def on_fit_start(self, trainer, pl_module):
            Path(trainer.default_root_dir, THREADS_FILE).write_text(json.dumps({"threads": torch.get_num_threads()}))

    return RecordThreads()


def recorded_threads(run_dir: Path) -> int | None:
    path = run_dir / THREADS_FILE
    return json.loads(path.read_text())["threads"] if path.is_file() else None


def child_data(overrides: list[str], epochs: int) -> dict:
    start = time.perf_counter()
    import lightning  # noqa: F401  (what train.py imports before the data)
    import torch

    import overfit.models.mlp  # noqa: F401

    imported, cpu = time.perf_counter(), time.process_time()
    _datamodule(compose(overrides))
    done = time.perf_counter()
    return {
        "import_s": imported - start,
        "data_s": done - imported,
        "data_cpu_s": time.process_time() - cpu,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }


class PlainRun:
    """train.py's model, optimizer and batches in plain PyTorch, one `epoch()` at a time. With duties, each epoch
    also does what a run does after it: train metrics summed per step, four TensorBoard scalars, an atomic
    checkpoint (weights, optimizer, vocabulary), and with model=early_stopping its EarlyStopping and best.ckpt."""

    def __init__(self, cfg, datamodule, duties: bool):
        import tempfile

        import torch
        from hydra.utils import instantiate

        torch.manual_seed(cfg.seed)
        self.model = instantiate(cfg.model, **datamodule.model_kwargs)
        self.optimizer = self.model.configure_optimizers()
        self.datamodule, self.duties = datamodule, duties
        self.train_loader, self.val_loader = datamodule.train_dataloader(), datamodule.val_dataloader()
        self.stopping = (cfg.get("callbacks") or {}).get("early_stopping")
        self.best_loss, self.waited = float("inf"), 0
        if duties:
            from torch.utils.tensorboard import SummaryWriter

            from overfit.checkpoints.io import AtomicFileCheckpointIO
            from overfit.models.mlp import EpochTotals

            self.out = Path(tempfile.mkdtemp(prefix="overfit_plain_"))
            self.writer, self.saver, self.totals = SummaryWriter(self.out), AtomicFileCheckpointIO(), EpochTotals()

    def evaluate(self, loader) -> tuple[float, float]:
        import torch

        model = self.model
        model.eval()
        loss_sum = correct = n = 0.0
        with torch.no_grad():
            for indices, offsets, labels in loader:
                logits = model(indices, offsets)
                loss_sum += float(model.loss_fn(logits, labels)) * len(labels)
                correct += float(((logits > 0).float() == labels).sum())
                n += len(labels)
        model.train()
        return loss_sum / n, correct / n

    def epoch(self, epoch: int) -> bool:
        """One epoch and its validation (and duties); True where early stopping would stop the run here."""
        model, optimizer, totals = self.model, self.optimizer, self.totals if self.duties else None
        self.train_loader.batch_sampler.set_epoch(epoch)  # what Lightning does: a new seeded order each epoch
        for indices, offsets, labels in self.train_loader:
            optimizer.zero_grad(set_to_none=True)
            logits = model(indices, offsets)
            loss = model.loss_fn(logits, labels)
            loss.backward()
            optimizer.step()
            if totals is not None:
                totals.update(loss, logits, labels)
        self.val_loss, self.val_acc = self.evaluate(self.val_loader)
        if self.duties:
            train = totals.compute()
            totals.reset()
            for tag, value in [("train/loss", train["loss"]), ("train/acc", train["acc"])]:
                self.writer.add_scalar(tag, float(value), epoch + 1)
            self.writer.add_scalar("val/loss", self.val_loss, epoch + 1)
            self.writer.add_scalar("val/acc", self.val_acc, epoch + 1)
            self._save("last.ckpt", epoch)
        if self.stopping is None:
            return False
        improved = self.val_loss < self.best_loss - float(self.stopping.min_delta)
        self.best_loss, self.waited = (self.val_loss, 0) if improved else (self.best_loss, self.waited + 1)
        if improved and self.duties:
            self._save("best.ckpt", epoch)
        return self.waited >= int(self.stopping.patience)

    def _save(self, name: str, epoch: int) -> None:
        state = {"state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": epoch}
        self.saver.save_checkpoint(state | {"datamodule": self.datamodule.state_dict()}, self.out / name)

    def close(self) -> None:
        if self.duties:
            self.writer.close()


def child_plain(overrides: list[str], epochs: int, duties: bool = False, threads: int | None = None) -> dict:
    """train.py's model, optimizer and batches in a loop of plain PyTorch, under train()'s thread policy."""
    cfg = compose(overrides)
    datamodule = _datamodule(cfg)
    run = PlainRun(cfg, datamodule, duties)
    with run_threads(cfg, run.model, threads) as got:
        start = time.perf_counter()
        for epoch in range(epochs):
            if run.epoch(epoch):
                break
        train_s = time.perf_counter() - start
        test_loss, test_acc = run.evaluate(datamodule.test_dataloader())
    run.close()
    return {"train_s": train_s, "epochs": epoch + 1, "val_acc": run.val_acc, "test_acc": test_acc, "threads": got}


def child_dense(overrides: list[str], epochs: int) -> dict:
    """The notebook's way on the same data: dense float32 multi-hot rows, nn.Linear layers, a plain loop."""
    import numpy as np
    import torch
    from hydra.utils import instantiate
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    cfg = compose(overrides)
    datamodule = _datamodule(cfg)

    def dense(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        data = datamodule.datasets[split]
        x = np.zeros((len(data), len(datamodule.vocabulary)), dtype=np.float32)  # 15000 x 10000 = 600 MB
        rows = np.repeat(np.arange(len(data)), np.diff(data.indptr))
        x[rows, data.indices[data.indptr[0] : data.indptr[-1]]] = 1.0
        return torch.from_numpy(x), data.labels

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = dense("train"), dense("val"), dense("test")
    torch.manual_seed(cfg.seed)
    hidden, dropout = [int(h) for h in cfg.model.hidden], float(cfg.model.dropout)
    layers: list[nn.Module] = [nn.Linear(x_train.shape[1], hidden[0])]
    for width_in, width_out in zip(hidden, hidden[1:] + [1]):
        layers += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(width_in, width_out)]
    model = nn.Sequential(*layers)
    optimizer = instantiate(cfg.model.optimizer)(params=model.parameters())  # same optimizer and lr as the variant
    loss_fn, batch_size = nn.BCEWithLogitsLoss(), int(cfg.data.batch_size)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(x[i : i + batch_size]).squeeze(-1) for i in range(0, len(x), batch_size)])
        model.train()
        return float(loss_fn(logits, y)), float(((logits > 0).float() == y).float().mean())

    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb).squeeze(-1), yb)
            loss.backward()
            optimizer.step()
        val_loss, val_acc = evaluate(x_val, y_val)
    train_s = time.perf_counter() - start
    test_loss, test_acc = evaluate(x_test, y_test)
    return {"train_s": train_s, "val_acc": val_acc, "test_acc": test_acc}


CHILDREN = {"data": child_data, "plain": child_plain, "dense": child_dense}
CHILDREN["duties"] = lambda overrides, epochs, threads=None: child_plain(overrides, epochs, True, threads)
