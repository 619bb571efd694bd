"""cpu_threads: auto follows the model's size and the machine's idle cores; train() restores torch's setting."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from overfit.runs import threads
from overfit.runs.threads import TORCH_DEFAULT_THREADS, torch_threads
from overfit.train import train


class RecordThreads(L.Callback):
    seen: list[int] = []

    def on_train_start(self, trainer, pl_module):
        RecordThreads.seen.append(torch.get_num_threads())


def test_cpu_threads_auto_follows_model_size_and_train_restores_the_count(train_cfg, tmp_path, monkeypatch):
    small, large = torch.nn.Linear(100, 100), torch.nn.Linear(1000, 1000)  # 10,100 and 1,001,000 parameters
    monkeypatch.setattr(threads, "idle_cores", lambda: float(TORCH_DEFAULT_THREADS))  # an idle machine
    assert torch_threads("auto", small) == 1 and torch_threads("auto", large) == TORCH_DEFAULT_THREADS
    monkeypatch.setattr(threads, "idle_cores", lambda: TORCH_DEFAULT_THREADS - 1.0)  # another job holds a core
    assert torch_threads("auto", large) == max(1, TORCH_DEFAULT_THREADS - 1)
    monkeypatch.setattr(threads, "idle_cores", lambda: 0.0)  # all busy: still one thread
    assert torch_threads("auto", large) == 1
    assert torch_threads(None, small) == TORCH_DEFAULT_THREADS and torch_threads(3, large) == 3

    before = torch.get_num_threads()
    RecordThreads.seen = []
    for setting, expected in [("3", 3), ("auto", 1)]:  # the tiny test model is "small"
        train(
            train_cfg(
                f"cpu_threads={setting}",
                f"paths.output_dir={tmp_path / setting}",
                "+callbacks.threads._target_=test_threads.RecordThreads",
            )
        )
        assert RecordThreads.seen[-1] == expected
        assert torch.get_num_threads() == before  # the process's setting is left as it was


def test_idle_cores_sees_a_busy_core():
    # A real load: a process spinning on one of our cores for the whole 0.2 s sample.
    cpus = threads.usable_cpus()
    if len(cpus) < 2 or not Path("/proc/stat").is_file():
        pytest.skip("needs /proc/stat and at least 2 usable cores")
    quiet = threads.idle_cores()
    if quiet < 1.0:  # other work already holds the cores: one more spinner cannot show (seen at load 5-6)
        pytest.skip(f"the machine is busy ({quiet:.1f} idle cores of {len(cpus)}): nothing left to see a spinner take")
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)
        busy = threads.idle_cores()
    finally:
        spin.kill()
        spin.wait()
    assert busy <= quiet - 0.5 and busy <= len(cpus) - 0.7, (quiet, busy)
