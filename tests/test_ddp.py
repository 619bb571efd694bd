"""`trainer=ddp trainer.devices=N` is one run on N devices: a global batch of data.batch_size split across the ranks
(same steps per epoch, same learning rate), distinct dropout masks per rank, metrics as on one device within
noise. Tested on CPU with gloo and 2 ranks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import pytest
import torch
from test_compare import run_py, sweep_overrides


class RecordSteps(L.Callback):
    """Each rank writes rank<r>.json: the size of every training batch and the dropout seed of every step."""

    def on_train_start(self, trainer, pl_module):
        self.sizes, self.seeds = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.sizes.append(len(batch[2]))
        self.seeds.append(torch.default_generator.initial_seed())  # set by the module's per-step reseed

    def on_train_end(self, trainer, pl_module):
        record = {"world_size": trainer.world_size, "sizes": self.sizes, "seeds": self.seeds, "pid": os.getpid()}
        Path(trainer.default_root_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


PROBE = "+callbacks.probe._target_=test_ddp.RecordSteps"


@pytest.mark.slow
def test_ddp_splits_the_global_batch_and_draws_its_own_masks(tiny_archive, tmp_path):
    common = [
        *sweep_overrides(tiny_archive, tmp_path),
        "model=dropout",
        "trainer.max_epochs=2",
        PROBE,
        "trainer.accelerator=cpu",
    ]
    one = run_py("train.py", *common, f"hydra.run.dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_py("train.py", *common, "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={tmp_path / 'two'}")
    assert two.returncode == 0, two.stderr[-3000:]
    single = json.loads((tmp_path / "one" / "rank0.json").read_text())
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in (0, 1)]
    # 80 training rows, global batch 16: 5 steps an epoch on one device and on two (8 rows per rank and step)
    assert single["sizes"] == [16] * 10
    assert ranks[0]["sizes"] == ranks[1]["sizes"] == [8] * 10
    # the same step count means the same schedule; rank 0 keeps the single-device seeds, rank 1 draws its own
    assert ranks[0]["seeds"] == single["seeds"] and set(ranks[1]["seeds"]).isdisjoint(ranks[0]["seeds"])
    a = json.loads((tmp_path / "one" / "metrics.json").read_text())["metrics"]
    b = json.loads((tmp_path / "two" / "metrics.json").read_text())["metrics"]
    # Same rows per step and the same mean gradient; only the dropout masks differ, so the metrics agree within
    # the noise that another dropout seed gives on 40 validation reviews (one review = 0.025).
    assert abs(a["val/acc"] - b["val/acc"]) <= 0.1 and abs(a["val/loss"] - b["val/loss"]) <= 0.05


@pytest.mark.slow
def test_a_global_batch_that_does_not_split_is_one_line(tiny_archive, tmp_path):
    result = run_py(
        "train.py",
        *sweep_overrides(tiny_archive, tmp_path),
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "data.batch_size=15",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode != 0
    assert "data.batch_size=15 is the global batch and must split evenly over 2 DDP ranks" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "override,asked",
    [("trainer=gpu", "trainer.accelerator=gpu"), ("trainer.accelerator=cuda", "trainer.accelerator=cuda")],
)
def test_a_missing_gpu_is_one_line_before_the_data(override, asked, tiny_archive, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_py("train.py", *sweep_overrides(tiny_archive, tmp_path), override, f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and asked in line and "no CUDA GPU" in line
    assert "IMDB class counts" not in result.stdout


@pytest.mark.slow
def test_more_devices_than_the_machine_has_is_one_line(tiny_archive, tmp_path):
    result = run_py(
        "train.py",
        *sweep_overrides(tiny_archive, tmp_path),
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=4096",
        f"hydra.run.dir={tmp_path / 'r'}",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "trainer.devices=4096" in line and f"{os.cpu_count()} CPU" in line
