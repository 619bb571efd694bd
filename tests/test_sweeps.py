"""Sweeps beyond the plain multirun: the submitit launcher (local executor), DDP on 2 CPU processes, ckpt_path=last.
The Optuna search (resume, pruning, parallel workers, DDP inside a trial) is tested in test_search.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import pytest
from conftest import CONF
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from test_compare import run_py, sweep_overrides

from overfit.checkpoints import resume
from overfit.train import train


class RecordRank(L.Callback):
    """Each rank writes what it actually trains with: rank<r>.json in the run dir."""

    def on_train_start(self, trainer, pl_module):
        group = trainer.optimizers[0].param_groups[0]
        record = {
            "hidden": list(pl_module.hparams.hidden),
            "dropout": pl_module.hparams.dropout,
            "lr": group["lr"],
            "weight_decay": group["weight_decay"],
            "world_size": trainer.world_size,
            "pid": os.getpid(),
        }
        Path(trainer.default_root_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


PROBE = "+callbacks.probe._target_=test_sweeps.RecordRank"
DDP_CPU = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def trial_dirs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "comparison")


@pytest.mark.slow
def test_submitit_local_sweep_lands_in_the_sweep_dir(tiny_archive, tmp_path):
    sweep = tmp_path / "sweep"
    result = run_py(
        "train.py",
        "-m",
        "hydra/launcher=submitit_local",
        "model=baseline,dropout",
        *sweep_overrides(tiny_archive, tmp_path),
        "hydra.callbacks.compare.enabled=true",  # the comparison a sweep ends with (off in sweep_overrides)
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in trial_dirs(sweep)] == ["0_baseline_s0", "1_dropout_s0"]
    for run in trial_dirs(sweep):
        record = json.loads((run / "metrics.json").read_text())
        assert (
            record["variant"] == run.name.split("_", 1)[1].rsplit("_s", 1)[0]
            and 0.0 <= record["metrics"]["test/acc"] <= 1.0
        )
        assert list(run.glob("events.out.tfevents.*"))
    assert list((sweep / ".submitit").rglob("*_result.pkl"))  # really went through submitit's job files
    # the sweep ends with its comparison, as scripts/compare.py writes it (compare/sweep_end.py)
    pooled = (sweep / "comparison" / "pooled.md").read_text()
    assert "| baseline | 1 |" in pooled and "| dropout | 1 |" in pooled
    assert f"comparison of 2 runs in {sweep}" in result.stdout and "| dropout | 1 |" in result.stdout
    assert f"to {sweep / 'comparison'}" in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_single_ddp_run_on_two_cpu_processes_logs_once(tiny_archive, tmp_path):
    run = tmp_path / "run"
    result = run_py("train.py", *DDP_CPU, PROBE, *sweep_overrides(tiny_archive, tmp_path), f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2 and ranks[0]["pid"] != ranks[1]["pid"]
    assert {k: v for k, v in ranks[0].items() if k != "pid"} == {k: v for k, v in ranks[1].items() if k != "pid"}
    # logging and checkpointing happened once, in the rank-0 process
    events = list(run.glob("events.out.tfevents.*"))
    assert events and {e.name.split(".")[-2] for e in events} == {str(ranks[0]["pid"])}
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_001.ckpt", "last.ckpt"]
    assert result.stdout.count("== overfit: baseline") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name in ("logs", "outputs", "multirun")] == []


def test_ckpt_path_last_resumes_the_runs_own_checkpoint(train_cfg, tmp_path):
    first = train_cfg("model=dropout", f"paths.output_dir={tmp_path / 'run'}", "ckpt_path=last", epochs=1)
    train(first)  # nothing to resume yet: a fresh start
    assert first.ckpt_path is None
    again = train_cfg("model=dropout", f"paths.output_dir={tmp_path / 'run'}", "ckpt_path=last", epochs=2)
    train(again)  # the requeued job: same dir, continues from epoch 1
    # the newest intact checkpoint (what last.ckpt links to), read by content, not by name
    assert again.ckpt_path == str(tmp_path / "run" / "checkpoints" / "epoch_001.ckpt")
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["epochs_run"] == 2


def test_ckpt_path_last_defers_to_lightnings_slurm_requeue_checkpoint(train_cfg, tmp_path, monkeypatch):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"")
    (tmp_path / "run" / "hpc_ckpt_1.ckpt").write_bytes(b"")
    cfg = train_cfg(f"paths.output_dir={tmp_path / 'run'}", "ckpt_path=last")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    resume.resolve(cfg)
    assert cfg.ckpt_path is None  # Lightning resumes from hpc_ckpt_1.ckpt itself


@pytest.mark.parametrize(
    "launcher,target", [("slurm", "SlurmLauncher"), ("submitit_local", "LocalLauncher"), ("joblib", "JoblibLauncher")]
)
def test_launcher_configs_compose(launcher, target):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "slurm":  # the fields a user edits
        for field in (
            "partition",
            "gpus_per_node",
            "tasks_per_node",
            "cpus_per_task",
            "timeout_min",
            "array_parallelism",
            "signal_delay_s",
            "max_num_timeout",
        ):
            assert field in cfg.hydra.launcher
