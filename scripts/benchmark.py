"""Speed and memory of the IMDB lab, against the issue's targets and a dense PyTorch loop of the notebook's kind.

    export OVERFIT_IMDB_ARCHIVE=/path/to/aclImdb_v1.tar.gz
    .venv/bin/python scripts/benchmark.py                        # everything, 20 epochs (~3-5 min on 2 cores)
    .venv/bin/python scripts/benchmark.py --quick --skip-dense   # smoke run: 2 epochs, no dense reference
    .venv/bin/python scripts/benchmark.py --variants baseline --markdown data.batch_size=256   # + Hydra overrides

Every measurement runs in its own fresh subprocess (imports, page cache and peak RSS comparable, and the 2 GB
dense matrices of the reference never inflate the other figures):
  import      import torch + lightning + overfit
  cold, warm  IMDBDataModule.prepare_data() + setup() on an empty cache dir, then again on the now-filled one
  train.py    `python train.py model=<v>` with its own tmp log dir; train seconds = the run's `time/train_s`
              (wall time of trainer.fit, per-epoch validation on 10k reviews and checkpoints included); peak
              RSS from wait4(). --repeats runs (default 3), the median shown: the same run varies by +-20% on
              a shared machine (memory-bound kernels follow the host's memory traffic). The very first run
              starts from an empty cache dir, so its peak RSS is that of a whole first run.
  dense       the same splits and vocabulary as dense float32 multi-hot matrices, nn.Sequential of nn.Linear,
              DataLoader(TensorDataset, batch_size, shuffle), plain loop with per-epoch validation, then test.
Timings are wall clock: on a shared machine check the load average printed with them.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The targets, and a faithful re-run of the Keras notebook on the same 2-core machine, for scale.
TARGETS = {"cold_s": 15.0, "warm_s": 2.0, "rss_gb": 2.0, "train_s": {"baseline": 5.0, "big": 15.0}}
NOTEBOOK = {"cold_s": 63.0, "rss_gb": 8.3, "train_s": {"baseline": 36.0, "big": 146.0}}
TARGET_EPOCHS = 20


# ---- children: each prints one JSON line as its last line of stdout ----------------------------------------------
def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def child_data(overrides: list[str]) -> dict:
    """Import time, then prepare_data() + setup() time of the datamodule train.py would build."""
    start = time.perf_counter()
    import lightning  # noqa: F401  (what train.py imports before the data)
    import torch
    from hydra.utils import instantiate

    import overfit.models.mlp  # noqa: F401

    imported, cpu = time.perf_counter(), time.process_time()
    datamodule = instantiate(compose(overrides).data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    done = time.perf_counter()
    return {
        "import_s": imported - start,
        "data_s": done - imported,
        "data_cpu_s": time.process_time() - cpu,
        "torch": torch.__version__,
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
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")

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


# ---- parent: run the children, collect, print ---------------------------------------------------------------------
def run(cmd: list[str], workdir: Path, name: str) -> tuple[dict | None, float, float]:
    """(last JSON line of stdout or None, wall seconds, peak RSS in GB) of one fresh subprocess."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    start = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # wait4, not wait: the rusage of this child alone
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = err_path.read_text().strip().splitlines()[-5:]
        sys.exit(f"benchmark: {name} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail))
    lines = out_path.read_text().strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return result, wall, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for train.py and the data, e.g. data.archive=...")
    parser.add_argument("--variants", nargs="+", default=["baseline", "big"])
    parser.add_argument("--epochs", type=int, default=None, help=f"default {TARGET_EPOCHS}, or 2 with --quick")
    parser.add_argument("--quick", action="store_true", help="2 epochs: a smoke run; train targets scaled to match")
    parser.add_argument("--skip-dense", action="store_true", help="skip the dense reference loop")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="train.py runs per variant, default 3 (1 with --quick); the table shows the median",
    )
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for every child (default: torch's choice)")
    parser.add_argument("--keep", action="store_true", help="keep the tmp dir with every child's output and run")
    parser.add_argument("--child", choices=["data", "dense"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    epochs = args.epochs or (2 if args.quick else TARGET_EPOCHS)
    args.repeats = args.repeats or (1 if args.quick else 3)

    if args.child:  # one measurement, in this fresh process
        result = child_data(args.overrides) if args.child == "data" else child_dense(args.overrides, epochs)
        print(json.dumps(result), flush=True)
        return

    if args.threads:  # inherited by every child; torch reads it at import
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="overfit_bench_"))
    me = [sys.executable, str(Path(__file__).resolve())]
    rows = []  # (figure, value, unit, target or None, notebook figure or None)
    loads = [load()]
    print(f"benchmark: {machine()}, {epochs} epochs, load average {loads[0]}, scratch {workdir}", flush=True)

    cache = [f"paths.data_dir={workdir / 'data'}"]
    cold, _, cold_rss = run(me + ["--child", "data"] + args.overrides + cache, workdir, "cold")
    warm, _, warm_rss = run(me + ["--child", "data"] + args.overrides + cache, workdir, "warm")
    rows += [
        ("import torch + lightning + overfit", warm["import_s"], "s", None, None),
        ("archive -> features, cold", cold["data_s"], "s", TARGETS["cold_s"], NOTEBOOK["cold_s"]),
        ("  CPU time of the above (less sensitive to load)", cold["data_cpu_s"], "s", None, None),
        ("archive -> features, warm (cached)", warm["data_s"], "s", TARGETS["warm_s"], None),
        ("peak RSS, cold data prep alone", cold_rss, "GB", None, None),
    ]
    print(f"  data: cold {cold['data_s']:.1f} s, warm {warm['data_s']:.2f} s (load {load()})", flush=True)

    scale = epochs / TARGET_EPOCHS  # --quick: the train targets shrink with the epochs
    runs, peak = {}, 0.0
    for i, variant in enumerate(args.variants):
        fits, walls = [], []
        for repeat in range(args.repeats):
            # The very first run starts from an empty cache: its peak RSS is that of a whole first train.py run.
            data_dir = workdir / ("data_first_run" if i == repeat == 0 else "data")
            log_dir = workdir / f"logs_{variant}_{repeat}"
            cmd = [
                sys.executable,
                "train.py",
                f"model={variant}",
                f"trainer.max_epochs={epochs}",
                f"paths.log_dir={log_dir}",
                f"paths.data_dir={data_dir}",
                "trainer.enable_progress_bar=false",
            ]
            cmd += args.overrides
            _, wall, rss = run(cmd, workdir, f"train_{variant}_{repeat}")
            record = json.loads(next(log_dir.glob("runs/*/metrics.json")).read_text())
            runs[variant] = record["metrics"]  # same seed: every repeat trains the same model
            fits.append(record["metrics"]["time/train_s"])
            walls.append(wall)
            peak = max(peak, rss)
            print(
                f"  train.py model={variant}: fit {fits[-1]:.1f} s, whole run {wall:.1f} s, "
                f"peak RSS {rss:.2f} GB (load {load()})",
                flush=True,
            )
        target = TARGETS["train_s"].get(variant)
        n = len(fits)
        rows += [
            (
                f"train {variant}, {epochs} epochs (train.py{f', median of {n}' if n > 1 else ''})",
                statistics.median(fits),
                "s",
                target and target * scale,
                NOTEBOOK["train_s"].get(variant) if scale == 1 else None,
            )
        ]
        if n > 1:
            rows += [
                (f"  fastest of the {n}", min(fits), "s", None, None),
                (f"  slowest of the {n}", max(fits), "s", None, None),
            ]
        rows += [
            (f"  whole train.py run {variant} (imports, data, fit, test)", statistics.median(walls), "s", None, None),
            (f"  test accuracy {variant}", record["metrics"]["test/acc"], "", None, None),
        ]
    rows.insert(5, ("peak RSS, whole train.py run", peak, "GB", TARGETS["rss_gb"], NOTEBOOK["rss_gb"]))

    if not args.skip_dense:
        for variant in args.variants:
            dense, _, rss = run(
                me + ["--child", "dense", f"--epochs={epochs}", f"model={variant}"] + args.overrides + cache,
                workdir,
                f"dense_{variant}",
            )
            ratio = dense["train_s"] / runs[variant]["time/train_s"]
            rows += [
                (f"dense loop {variant}, {epochs} epochs", dense["train_s"], "s", None, None),
                (f"  test accuracy {variant}, dense loop", dense["test_acc"], "", None, None),
                (f"  speed-up of train.py over dense, {variant}", ratio, "x", None, None),
                (f"  peak RSS dense loop {variant}", rss, "GB", None, None),
            ]
            print(f"  dense {variant}: {dense['train_s']:.1f} s, {rss:.2f} GB (load {load()})", flush=True)

    loads.append(load())
    print_table(
        rows,
        f"{machine()}, torch {cold['torch']} ({cold['threads']} threads), {epochs} epochs, "
        f"load average (1/5/15 min) {loads[0]} at start, {loads[1]} at end",
        args.markdown,
    )
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def print_table(rows: list, caption: str, markdown: bool) -> None:
    def fmt(value, unit):
        if value is None:
            return ""
        if unit == "":
            return f"{value:.4f}"
        return f"{value:.2f} {unit}" if unit in ("GB", "x") or value < 10 else f"{value:.1f} {unit}"

    header = ["figure", "value", "target", "result", "notebook"]
    body = [
        [
            name,
            fmt(value, unit),
            f"<= {fmt(target, unit)}" if target else "",
            ("pass" if value <= target else "FAIL") if target else "",
            fmt(notebook, unit),
        ]
        for name, value, unit, target, notebook in rows
    ]
    if markdown:
        print(f"\n{caption}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for row in body:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in body + [header]) for i in range(len(header))]
    print(f"\n{caption}")
    for row in [header] + body:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
