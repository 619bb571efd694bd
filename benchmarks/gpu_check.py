"""The GPU check: one command, at most ~5 minutes on one GPU, no network, one printed table.

    # on a GPU machine, from the repository root, with the archive copied beside it:
    python -m benchmarks gpu-check --archive ../shared/data/imdb/aclImdb_v1_labeled.tar.gz
    python -m benchmarks gpu-check --archive ... --wheels wheels/   # installs hydra-core etc. from local wheels first
    python -m benchmarks gpu-check --archive ... --no-gpu           # the same on CPU only (a dry run of the check)

Runs, in order: the `gpu`-marked tests; the six variants for 20 epochs on the GPU and on the CPU (each a fresh
`python train.py` process); `baseline` with its batches built on the host instead of the device
(data.device_batches=false); the six as one `train.py -m` sweep, and as 3 such processes at once (runs sharing one
GPU); a rerun of `dropout` on the GPU (same metrics = deterministic); eval.py, predict.py and a 2-epoch resume of
the GPU-trained `dropout` checkpoint with the GPU hidden (CUDA_VISIBLE_DEVICES=""). Prints per variant: fit
seconds and test accuracy on both devices, and the peak GPU memory; then those figures.
Needs torch, lightning, torchmetrics, tensorboard, scikit-learn, scipy, matplotlib, tqdm, pooch, hydra-core,
omegaconf; with --wheels, whatever of those is missing is installed from that folder (`pip --no-index`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "small", "big", "l2", "dropout", "early_stopping")
NEEDED = ("hydra", "omegaconf", "antlr4", "pooch", "tqdm", "matplotlib", "sklearn", "scipy", "tensorboard")


class PeakMemory(L.Callback):
    """Writes the run's peak GPU memory (MB) to <run dir>/gpu_memory.json."""

    def on_fit_end(self, trainer, pl_module):
        import torch

        peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
        Path(trainer.default_root_dir, "gpu_memory.json").write_text(json.dumps({"peak_mb": peak}))


def ensure_packages(wheels: Path | None) -> None:
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing and wheels is None:
        raise SystemExit(f"error: missing {missing}: pass --wheels <dir of wheels> (no network is assumed)")
    if missing:
        wanted = {"hydra": "hydra-core", "antlr4": "antlr4-python3-runtime", "sklearn": "scikit-learn"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-index",
                "--find-links",
                str(wheels),
                *[wanted.get(m, m) for m in missing],
            ],
            check=True,
        )


def env(hide_gpu: bool = False) -> dict:
    # src: overfit where it is not installed; the root: benchmarks, for the PeakMemory callback of train.py's runs
    paths = [str(REPO / "src"), str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]
    extra = {"PYTHONPATH": os.pathsep.join(p for p in paths if p), "PYTHONWARNINGS": "ignore"}
    return {**os.environ, **extra, **({"CUDA_VISIBLE_DEVICES": ""} if hide_gpu else {})}


def run(cmd: list[str], hide_gpu: bool = False, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=REPO, env=env(hide_gpu), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        print(f"FAILED ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}", flush=True)
    return done


def train(variant: str, accelerator: str, run_dir: Path, common: list[str], *extra: str) -> dict:
    cmd = [
        sys.executable,
        "train.py",
        f"model={variant}",
        f"trainer.accelerator={accelerator}",
        f"hydra.run.dir={run_dir}",
        "+callbacks.gpu_memory._target_=benchmarks.gpu_check.PeakMemory",
        *common,
        *extra,
    ]
    done = run(cmd)
    if done.returncode != 0:
        return {}
    record = json.loads((run_dir / "metrics.json").read_text())
    memory = run_dir / "gpu_memory.json"
    record["peak_mb"] = json.loads(memory.read_text())["peak_mb"] if memory.is_file() else float("nan")
    return record


def shared_sweep(k: int, device: str, tmp: Path, common: list[str]) -> float:
    """Wall seconds of the six variants as k `train.py -m` processes started together (k runs share the device)."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "train.py", "-m", f"model={','.join(VARIANTS[i::k])}", f"trainer.accelerator={device}"]
            + [f"hydra.sweep.dir={tmp / f'shared_{i}'}", *common],
            cwd=REPO,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(k)
    ]
    failed = [i for i, proc in enumerate(procs) if proc.wait() != 0]
    if failed:
        print(f"FAILED: shared sweep processes {failed} (logs under {tmp})", flush=True)
    return float("nan") if failed else time.perf_counter() - started


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--archive", required=True, type=Path)
    parser.add_argument("--wheels", type=Path)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=3, help="runs sharing the GPU at once (1: skip that part)")
    parser.add_argument("--no-gpu", action="store_true", help="CPU only: checks the script itself")
    args = parser.parse_args(argv)
    ensure_packages(args.wheels)
    import torch

    gpu = not args.no_gpu
    if gpu and not torch.cuda.is_available():
        raise SystemExit("error: torch sees no CUDA GPU here; run on a GPU machine or pass --no-gpu")
    name = torch.cuda.get_device_name(0) if gpu else "none"
    print(
        f"GPU check: {name}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU cores",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    common = [
        f"data.archive={args.archive.resolve()}",
        "data.sha256=null",
        f"paths.data_dir={tmp / 'data'}",
        f"paths.log_dir={tmp / 'logs'}",
        f"trainer.max_epochs={args.epochs}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    start = time.perf_counter()
    tests = run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"])
    print(f"gpu tests: {tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else 'no output'}", flush=True)

    rows = {}
    for variant in VARIANTS:
        on = {
            dev: train(variant, dev, tmp / f"{variant}_{dev}", common) for dev in (("gpu", "cpu") if gpu else ("cpu",))
        }
        rows[variant] = on
        print(
            f"  {variant}: "
            + ", ".join(
                f"{d} fit {r.get('metrics', {}).get('time/train_s', float('nan')):.1f} s" for d, r in on.items()
            ),
            flush=True,
        )
    device = "gpu" if gpu else "cpu"
    # The GPU path's choices, measured: batches built on the host (the CPU's DataLoader, pinned) instead of on the
    # device, and the six variants as one `train.py -m` process (what a sweep does) instead of six processes.
    host_batches = train("baseline", device, tmp / "baseline_host_batches", common, "data.device_batches=false")
    started = time.perf_counter()
    swept = run(
        [sys.executable, "train.py", "-m", f"model={','.join(VARIANTS)}", f"trainer.accelerator={device}"]
        + [f"hydra.sweep.dir={tmp / 'sweep'}", *common]
    )
    sweep_s = time.perf_counter() - started if swept.returncode == 0 else float("nan")
    shared_s = shared_sweep(args.parallel, device, tmp, common) if args.parallel > 1 else float("nan")
    again = train("dropout", device, tmp / "dropout_again", common)
    first = rows["dropout"][device].get("metrics", {})
    same = bool(again) and all(abs(first[k] - again["metrics"][k]) < 1e-6 for k in ("val/loss", "test/acc"))

    ckpt = tmp / f"dropout_{device}" / "checkpoints" / "last.ckpt"
    evaluated = run([sys.executable, "eval.py", f"ckpt_path={ckpt}", *common[:4]], hide_gpu=True)
    predicted = run(
        [sys.executable, "predict.py", f"ckpt_path={ckpt}", "A moving, brilliant film.", "Dull."], hide_gpu=True
    )
    resumed = run(
        [
            sys.executable,
            "train.py",
            "model=dropout",
            f"ckpt_path={ckpt}",
            *common[:4],
            f"trainer.max_epochs={args.epochs + 2}",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            f"hydra.run.dir={tmp / 'resumed_on_cpu'}",
        ],
        hide_gpu=True,
    )

    print("\n| variant | fit GPU (s) | fit CPU (s) | test acc GPU | test acc CPU | peak GPU memory (MB) |")
    print("|---|---|---|---|---|---|")
    for variant, on in rows.items():

        def cell(dev, key, fmt, on=on):
            value = on.get(dev, {}).get("metrics", {}).get(key) if key != "peak_mb" else on.get(dev, {}).get(key)
            return "-" if value is None else format(value, fmt)

        print(
            f"| {variant} | {cell('gpu', 'time/train_s', '.1f')} | {cell('cpu', 'time/train_s', '.1f')} | "
            f"{cell('gpu', 'test/acc', '.4f')} | {cell('cpu', 'test/acc', '.4f')} | {cell('gpu', 'peak_mb', '.0f')} |"
        )
    gpu_fit = sum(on.get("gpu", {}).get("wall_s", 0.0) for on in rows.values())
    print(f"\nsix-variant sweep on the GPU, one process per run, wall incl. test: {gpu_fit:.1f} s" if gpu else "")
    fit = rows["baseline"].get(device, {}).get("metrics", {}).get("time/train_s", float("nan"))
    host_fit = host_batches.get("metrics", {}).get("time/train_s", float("nan"))
    print(f"baseline fit on the {device}: default batches {fit:.2f} s, data.device_batches=false {host_fit:.2f} s")
    print(f"six-variant sweep in one process (train.py -m, imports and tests included): {sweep_s:.1f} s wall")
    print(f"the same six as {args.parallel} train.py -m processes at once on one {device}: {shared_s:.1f} s wall")
    print(f"rerun of dropout gives the same metrics: {same}")
    print(
        f"GPU-trained checkpoint with the GPU hidden: eval rc={evaluated.returncode}, "
        f"predict rc={predicted.returncode}, resume rc={resumed.returncode}"
    )
    print(f"gpu tests rc={tests.returncode}; whole check {time.perf_counter() - start:.0f} s; files in {tmp}")
