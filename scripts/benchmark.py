"""Speed and memory of the IMDB lab, against the issue's targets and a dense PyTorch loop of the notebook's kind.

    export OVERFIT_IMDB_ARCHIVE=/path/to/aclImdb_v1.tar.gz
    .venv/bin/python scripts/benchmark.py                        # everything, 20 epochs (~3-5 min on 2 cores)
    .venv/bin/python scripts/benchmark.py --quick --skip-dense   # smoke run: 2 epochs, no dense reference
    .venv/bin/python scripts/benchmark.py --variants baseline --markdown data.batch_size=256   # + Hydra overrides

Every measurement runs in its own fresh subprocess (imports, page cache and peak RSS comparable, and the 2 GB
dense matrices of the reference never inflate the other figures); the children live in scripts/bench_loops.py and
scripts/bench_overhead.py, the sweep's figures in scripts/bench_sweep.py:
  import      import torch + lightning + overfit
  cold, warm  IMDBDataModule.prepare_data() + setup() on an empty cache dir, then again on the now-filled one
  train.py    `python train.py model=<v>` with its own tmp log dir; train seconds = the run's `time/train_s`
              (wall time of trainer.fit, per-epoch validation on 10k reviews and checkpoints included); peak
              RSS from wait4(). --repeats runs (default 3), the median shown: the same run varies by +-20% on
              a shared machine (memory-bound kernels follow the host's memory traffic). The very first run
              starts from an empty cache dir, so its peak RSS is that of a whole first run.
  plain       the same sparse model, optimizer, batches and threads as train.py in a plain PyTorch loop (no
              Lightning, no checkpoints): the yardstick for Lightning's overhead, `fit / plain` (target <= 1.3x)
  duties      (--duties) that loop doing a run's per-epoch duties too: summed train metrics, four TensorBoard
              scalars and an atomic checkpoint per epoch; `fit / duties` is what Lightning itself costs
  epochs      (--epoch-ratio) a train.py-built fit and the plain loop taking turns in one process, epoch by
              epoch: the fastest epochs of each, side by side, are what each costs on a quiet machine
  sweep       `python train.py -m model=<the six> seed=0` (--sweep): the six-variant sweep's wall time, whole
              process (imports, data, six fits and tests), target <= 25 s; one process and joblib
  plainsweep  (--sweep) the floor under it: the six as plain loops with a run's duties, one process
  dense       the same splits and vocabulary as dense float32 multi-hot matrices, nn.Sequential of nn.Linear,
              DataLoader(TensorDataset, batch_size, shuffle), plain loop with per-epoch validation, then test.
Timings are wall clock: on a shared machine check the load average printed with them.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import bench_overhead  # noqa: F401  (registers its children: epochs, plainsweep)
from bench_loops import CHILDREN
from bench_sweep import epoch_ratio_rows, sweep_rows
from bench_table import load, machine, print_table, run

# The targets, and a faithful re-run of the Keras notebook on the same 2-core machine, for scale.
TARGETS = {"cold_s": 15.0, "warm_s": 2.0, "rss_gb": 2.0, "train_s": {"baseline": 5.0, "big": 15.0}}
TARGETS |= {"fit_over_plain": 1.3, "sweep_s": 25.0}
NOTEBOOK = {"cold_s": 63.0, "rss_gb": 8.3, "train_s": {"baseline": 36.0, "big": 146.0}}
TARGET_EPOCHS = 20


# ---- parent: run the children, collect, print ---------------------------------------------------------------------
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
    parser.add_argument("--skip-plain", action="store_true", help="skip the plain PyTorch loop on the same model")
    parser.add_argument("--sweep", action="store_true", help="also time the six-variant one-seed sweep, both ways")
    parser.add_argument(
        "--duties", action="store_true", help="also the plain loop doing a run's per-epoch duties (bench_loops duties)"
    )
    parser.add_argument(
        "--epoch-ratio",
        action="store_true",
        help="also Lightning's epochs against the plain loop's, interleaved in one process (bench_overhead epochs)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    epochs = args.epochs or (2 if args.quick else TARGET_EPOCHS)
    args.repeats = args.repeats or (1 if args.quick else 3)

    if args.child:  # one measurement, in this fresh process
        result = CHILDREN[args.child](args.overrides, epochs)
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
        fits, walls, plains, duties = [], [], [], []
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
            if not args.skip_plain:  # interleaved with train.py's repeats: both see the same load drift
                plain_cmd = me + ["--child", "plain", f"--epochs={epochs}", f"model={variant}"] + args.overrides
                plain, _, _ = run(plain_cmd + [f"paths.data_dir={data_dir}"], workdir, f"plain_{variant}_{repeat}")
                plains.append(plain["train_s"])
                print(f"  plain loop model={variant}: {plains[-1]:.1f} s (load {load()})", flush=True)
            if args.duties:
                duty_cmd = me + ["--child", "duties", f"--epochs={epochs}", f"model={variant}"] + args.overrides
                duty, _, _ = run(duty_cmd + [f"paths.data_dir={data_dir}"], workdir, f"duties_{variant}_{repeat}")
                duties.append(duty["train_s"])
                print(
                    f"  plain loop with a run's duties model={variant}: {duties[-1]:.1f} s (load {load()})", flush=True
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
        if plains:
            ratio = statistics.median(fits) / statistics.median(plains)
            rows += [
                (f"  plain PyTorch loop {variant}, same model and batches (median)", statistics.median(plains), "s"),
                (f"  Lightning fit / plain loop, {variant}", ratio, "x", TARGETS["fit_over_plain"], None),
            ]
        if duties:
            rows += [
                (
                    f"  plain loop {variant} with a run's duties (metrics, scalars, checkpoint)",
                    statistics.median(duties),
                    "s",
                ),
                (
                    f"  Lightning fit / plain loop with duties, {variant}",
                    statistics.median(fits) / statistics.median(duties),
                    "x",
                ),
            ]
        if args.epoch_ratio:
            rows += epoch_ratio_rows(me, args, variant, epochs, workdir)
        rows += [
            (f"  whole train.py run {variant} (imports, data, fit, test)", statistics.median(walls), "s", None, None),
            (f"  test accuracy {variant}", record["metrics"]["test/acc"], "", None, None),
        ]
    rows.insert(5, ("peak RSS, whole train.py run", peak, "GB", TARGETS["rss_gb"], NOTEBOOK["rss_gb"]))

    if args.sweep:
        rows += sweep_rows(args, workdir, epochs, scale, TARGETS["sweep_s"])

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


if __name__ == "__main__":
    main()
