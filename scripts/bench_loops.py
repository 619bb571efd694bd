"""The measurements scripts/benchmark.py runs, each in a fresh process of its own (`--child NAME`).

    data    import time, then IMDBDataModule.prepare_data() + setup(): the datamodule train.py would build
    plain   the same sparse model (BagOfWordsMLP), optimizer, batches and thread count as train.py, trained by a
            plain PyTorch loop (no Lightning): per-epoch validation, no checkpoints. The yardstick for
            Lightning's overhead: train.py's fit against this loop, same epochs.
    duties  the plain loop doing a run's per-epoch duties too, as train.py does them: train metrics summed per
            step, four TensorBoard scalars and a checkpoint (weights, optimizer, vocabulary; atomic) per epoch
    dense   the notebook's way: dense float32 multi-hot rows, nn.Linear layers, DataLoader(TensorDataset)

Each returns a dict that benchmark.py prints as one JSON line. The table it prints: scripts/bench_table.py.
"""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    }


def train_epoch(model, optimizer, loader, totals=None) -> None:
    """One epoch of plain PyTorch on train.py's model and batches; train metrics summed into `totals` if given."""
    for indices, offsets, labels in loader:
        optimizer.zero_grad(set_to_none=True)
        logits = model(indices, offsets)
        loss = model.loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
        if totals is not None:
            totals.update(loss, logits, labels)


def child_plain(overrides: list[str], epochs: int, duties: bool = False) -> dict:
    """train.py's model, optimizer, batches and threads in a loop of plain PyTorch."""
    import tempfile

    import torch
    from hydra.utils import instantiate
    from torch.utils.tensorboard import SummaryWriter

    from overfit.checkpoint_io import AtomicFileCheckpointIO
    from overfit.models.mlp import EpochTotals
    from overfit.threads import torch_threads

    cfg = compose(overrides)
    datamodule = _datamodule(cfg)
    torch.manual_seed(cfg.seed)
    model = instantiate(cfg.model, **datamodule.model_kwargs)
    torch.set_num_threads(torch_threads(cfg.get("cpu_threads"), model))
    optimizer = model.configure_optimizers()
    train_loader, val_loader = datamodule.train_dataloader(), datamodule.val_dataloader()
    test_loader = datamodule.test_dataloader()

    def evaluate(loader) -> tuple[float, float]:
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

    out = Path(tempfile.mkdtemp(prefix="overfit_plain_"))
    writer, saver, totals = (SummaryWriter(out), AtomicFileCheckpointIO(), EpochTotals()) if duties else (None,) * 3
    # model=early_stopping: stop as its EarlyStopping callback would (val loss, patience, min_delta), so the loop
    # trains the epochs train.py trains; with duties, also its second checkpoint whenever val loss improves.
    stopping = (cfg.get("callbacks") or {}).get("early_stopping")
    best_loss, waited = float("inf"), 0
    start = time.perf_counter()
    for epoch in range(epochs):
        train_loader.batch_sampler.set_epoch(epoch)  # what Lightning does: a new seeded order each epoch
        train_epoch(model, optimizer, train_loader, totals)
        val_loss, val_acc = evaluate(val_loader)
        if duties:
            train = totals.compute()
            totals.reset()
            for tag, value in [("loss/train", train["loss"]), ("acc/train", train["acc"])]:
                writer.add_scalar(tag, float(value), epoch + 1)
            writer.add_scalar("loss/val", val_loss, epoch + 1)
            writer.add_scalar("acc/val", val_acc, epoch + 1)
            state = {"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
            saver.save_checkpoint(state | {"datamodule": datamodule.state_dict()}, out / "last.ckpt")
        if stopping is not None:
            improved = val_loss < best_loss - float(stopping.min_delta)
            best_loss, waited = (val_loss, 0) if improved else (best_loss, waited + 1)
            if improved and duties:
                saver.save_checkpoint(state | {"datamodule": datamodule.state_dict()}, out / "best.ckpt")
            if waited >= int(stopping.patience):
                break
    train_s = time.perf_counter() - start
    test_loss, test_acc = evaluate(test_loader)
    return {
        "train_s": train_s,
        "epochs": epoch + 1,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "threads": torch.get_num_threads(),
    }


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
CHILDREN["duties"] = lambda overrides, epochs: child_plain(overrides, epochs, duties=True)
