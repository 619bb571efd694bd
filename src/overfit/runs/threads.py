"""How many intra-op threads a run gets: `cpu_threads` (auto | null | N) in conf/train.yaml.

    torch.set_num_threads(torch_threads(cfg.cpu_threads, model))    # train() does this, and restores it after

auto: one thread for models under 1M parameters, whose ops are too small to gain from more (baseline: 3.0 s on
one thread, 2.7 s on two). Larger models (`big`, 5.4M) gain 25-30% from a second core, but only while it is
free: an OpenMP thread whose core runs another job makes every step wait for it (`big`, 2 epochs with one core
busy: 45.2 s on two threads, 10.3 s on one). So auto takes one thread per core that is idle right now, measured
over 0.2 s from /proc/stat for the cores this process may run on, at least one. Elsewhere (no /proc/stat) it
falls back to the 1-minute load average. The count can differ between runs on a loaded and an idle machine, and
with it the last decimals of matrix products: compare results pooled over seeds (README).
"""

from __future__ import annotations

import os
import subprocess
import time

import torch

# torch's own thread count (one per core), read before any run changes it.
TORCH_DEFAULT_THREADS = torch.get_num_threads()
SMALL_MODEL_PARAMETERS = 1_000_000


def _cpu_times(cpus: set[int]) -> tuple[int, int] | None:
    """(idle, total) jiffies summed over `cpus`, from /proc/stat's per-core lines; None where it cannot be read."""
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3].isdigit()]
    except OSError:
        return None
    idle = total = 0
    for fields in lines:
        if int(fields[0][3:]) in cpus:
            values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
            idle += values[3] + values[4]
            total += sum(values)
    return (idle, total) if total else None


def cpu_model() -> str:
    """The CPU's model name (lscpu, else /proc/cpuinfo), for the machine line of results and benchmarks."""
    for command, prefix in ((["lscpu"], "Model name"), (["cat", "/proc/cpuinfo"], "model name")):
        try:
            out = subprocess.run(command, check=False, capture_output=True, text=True, env={"LC_ALL": "C"}).stdout
        except OSError:
            continue
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith(prefix)), "")
        if model:
            return model
    return "unknown CPU"


def usable_cpus() -> set[int]:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def idle_cores(sample_s: float = 0.2) -> float:
    """Cores of this process's CPU set that other processes leave idle (this one sleeps while measuring)."""
    cpus = usable_cpus()
    before = _cpu_times(cpus)
    if before is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return max(0.0, len(cpus) - load)
    time.sleep(sample_s)
    after = _cpu_times(cpus)
    idle, total = after[0] - before[0], after[1] - before[1]
    return len(cpus) * idle / total if total > 0 else float(len(cpus))


def torch_threads(setting: int | str | None, model: torch.nn.Module) -> int:
    """The intra-op thread count for `cpu_threads`: an integer, null (torch's default) or auto (see above)."""
    if setting == "auto":
        if sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS:
            return 1
        # 1.75 idle cores count as 2: a core that others use a quarter of the time still pays off
        return max(1, min(TORCH_DEFAULT_THREADS, int(idle_cores() + 0.25)))
    return TORCH_DEFAULT_THREADS if setting is None else int(setting)
