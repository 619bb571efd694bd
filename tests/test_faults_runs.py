"""Fault injection on whole runs: accuracy on logits near 0, parallel launches, kills at chosen points (the
checkpoint-rotation window included), signals, finished runs resumed, and settings that must fail in one line.

Subprocess tests run train.py (through tests/fault_inject.py for injected faults) on the tiny generated archive, each
in a child forked from a process that imported torch, Lightning and Hydra once (tests/forked.py): a real process of
its own, which the faults kill or signal, without ~5 s of imports per run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import forked
import pytest
import torch
from conftest import REPO, tiny_overrides

from overfit.checkpoints import resume
from overfit.models.mlp import BagOfWordsMLP, EpochTotals
from overfit.runs.dirs import unique_dir

TINY = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def train_py(*args, **kwargs) -> subprocess.CompletedProcess:
    """train.py (or fault_inject.py <fault>) with the tiny config; the run dir is tmp_path/run unless overridden."""
    return start_train_py(*args, **kwargs).wait(timeout=300)


def start_train_py(
    *args,
    tmp_path: Path,
    archive: Path,
    epochs: int = 3,
    fault: str | None = None,
    extra_env=None,
    default_run_dir: bool = False,
    queue: bool = True,
) -> forked.Job:
    """train_py, started (forked.start: queue=False for one beside others): .wait() gives its result."""
    overrides = [o for o in tiny_overrides(archive, tmp_path, epochs) if not o.startswith("paths.output_dir")]
    if not default_run_dir:
        overrides.append(f"hydra.run.dir={tmp_path / 'run'}")
    cmd = [
        sys.executable,
        *([str(REPO / "tests" / "fault_inject.py"), fault] if fault else [str(REPO / "train.py")]),
        *overrides,
        *args,
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(extra_env or {})}
    return forked.start(cmd, cwd=tmp_path, env=env, queue=queue)


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


# ---- silent wrong numbers -------------------------------------------------------------------------------------


def test_accuracy_scores_logits_inside_0_1_as_positive():
    # Logits in (0, 1) mean P(pos) in (0.5, 0.73): all correct for positive labels. torchmetrics would threshold the
    # raw logits at 0.5 when none lies outside [0, 1] and score this batch 0.25.
    model = BagOfWordsMLP(vocab_size=4)
    logits = torch.tensor([0.1, 0.3, 0.6, 0.9])
    model.forward = lambda indices, offsets: logits
    labels = torch.ones(4)
    model._shared_step((torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3]), labels), "val")
    assert float(model.epoch_totals["val_totals"].compute()["acc"]) == 1.0
    model.epoch_totals["val_totals"].reset()
    model._shared_step((torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3]), torch.zeros(4)), "val")
    assert float(model.epoch_totals["val_totals"].compute()["acc"]) == 0.0


def test_epoch_loss_weights_every_row_and_an_uneven_last_batch_counts_by_its_rows():
    # torchmetrics 1.9's MeanMetric(nan_strategy="disable") drops the weights (Lightning-AI/torchmetrics#3434): the
    # epoch loss was the plain mean of batch means, and a last batch of 424 rows counted like one of 512.
    totals = EpochTotals()
    totals.update(torch.tensor(0.5), torch.ones(512), torch.ones(512))
    totals.update(torch.tensor(1.0), -torch.ones(424), torch.ones(424))  # all wrong
    out = totals.compute()
    assert float(out["loss"]) == pytest.approx((0.5 * 512 + 1.0 * 424) / 936, rel=1e-6)  # 0.7265, not 0.75
    assert float(out["acc"]) == pytest.approx(512 / 936, rel=1e-6)


# ---- run directories ------------------------------------------------------------------------------------------


def test_unique_dir_gives_each_claimant_its_own_directory(tmp_path):
    (tmp_path / "runs" / "same").mkdir(parents=True)  # another process got there first
    names = [unique_dir(str(tmp_path / "runs" / "same")) for _ in range(3)]
    # this process claims one directory per name, however often the config is resolved
    assert names == [str(tmp_path / "runs" / "same-1")] * 3
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["same", "same-1"]


def test_claimed_directories_left_empty_are_removed_at_exit(tmp_path):
    """hparams_search=optuna overrides hydra.sweep.dir in a merge, and OmegaConf resolves the value it replaces:
    that claimed a logs/multiruns/<time> no run used. Claims still empty at exit are removed; used ones stay."""
    code = f"""
from pathlib import Path
from hydra import compose, initialize_config_dir
from overfit.runs.dirs import unique_dir
with initialize_config_dir(config_dir={str(REPO / "conf")!r}, version_base="1.3"):
    cfg = compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)
assert cfg.hydra.sweep.dir.endswith("optuna/overfit_imdb"), cfg.hydra.sweep.dir
used = Path(unique_dir("used"))
(used / "metrics.json").write_text("{{}}")
unique_dir("unused")
print(len(list(Path("logs/multiruns").iterdir())), sorted(p.name for p in Path(".").iterdir()))
"""
    env = {**os.environ, "OVERFIT_ROOT": "."}  # what train.py sets when launched from the project root
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "1" and "'unused'" in done.stdout  # both claimed while the process ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "used"]
    assert list((tmp_path / "logs" / "multiruns").iterdir()) == []  # the phantom sweep dir: gone
    assert (tmp_path / "used" / "metrics.json").is_file()


@pytest.mark.slow
def test_parallel_launches_with_the_same_name_never_share_a_directory(tiny_archive, tmp_path):
    # All three ask for the same directory name at once, as runs started in the same second do.
    same = "hydra.run.dir=${unique_dir:" + str(tmp_path / "logs" / "runs" / "same") + "}"
    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path, 1) if not o.startswith("paths.output_dir")]
    cmd = [sys.executable, str(REPO / "train.py"), *overrides, *TINY, same]
    procs = [forked.start([*cmd, f"seed={i}"], cwd=tmp_path, queue=False) for i in range(3)]  # all 3 at once
    for p in procs:
        done = p.wait(timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    runs = sorted((tmp_path / "logs" / "runs").iterdir())
    assert [r.name for r in runs] == ["same", "same-1", "same-2"]
    assert sorted(metrics(r)["seed"] for r in runs) == [0, 1, 2]  # one run's record in each directory
    writers = []  # event files are named events.out.tfevents.<time>.<host>.<pid>.<n>: one writing process per dir
    for r in runs:
        pids = {f.name.split(".")[-2] for f in r.glob("events.out.tfevents.*")}
        assert len(pids) == 1, r
        writers += pids
        assert len(list((r / "checkpoints").glob("epoch_*.ckpt"))) == 1
    assert len(set(writers)) == 3


# ---- kills at chosen points -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def straight(tiny_archive, tmp_path_factory):
    """An uninterrupted 3-epoch dropout run: what every resumed run must reproduce."""
    tmp = tmp_path_factory.mktemp("straight")
    out = train_py("model=dropout", *TINY, tmp_path=tmp, archive=tiny_archive)
    assert out.returncode == 0, out.stderr[-2000:]
    return metrics(tmp / "run")["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill_after_remove:2", "kill_before_link:2"])
def test_kill_in_the_checkpoint_rotation_window_resumes_from_the_intact_epoch(fault, straight, tiny_archive, tmp_path):
    killed = train_py("model=dropout", *TINY, tmp_path=tmp_path, archive=tiny_archive, fault=fault)
    assert killed.returncode == -9
    ckpts = tmp_path / "run" / "checkpoints"
    last = ckpts / "last.ckpt"
    if fault.startswith("kill_after_remove"):
        assert last.is_symlink() and not last.exists()  # dangling: the file it named was just deleted
    else:
        assert not last.exists() and not last.is_symlink()
    again = train_py("model=dropout", "ckpt_path=last", *TINY, tmp_path=tmp_path, archive=tiny_archive)
    assert again.returncode == 0, again.stderr[-2000:]
    said = again.stdout + again.stderr  # Hydra's job log goes to stdout
    assert "resuming from" in said and "epoch_002.ckpt (2 epochs done)" in said
    resumed = metrics(tmp_path / "run")["metrics"]
    for key in ("val/loss", "val/acc", "test/acc", "test/loss"):
        assert resumed[key] == pytest.approx(straight[key], abs=1e-6), key


@pytest.mark.slow
def test_explicit_dangling_ckpt_path_resumes_from_the_newest_intact_one(tiny_archive, tmp_path):
    killed = train_py("model=dropout", *TINY, tmp_path=tmp_path, archive=tiny_archive, fault="kill_after_remove:2")
    assert killed.returncode == -9
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    again = train_py("model=dropout", f"ckpt_path={last}", *TINY, tmp_path=tmp_path, archive=tiny_archive)
    assert again.returncode == 0, again.stderr[-2000:]
    said = again.stdout + again.stderr
    assert "no longer exists" in said and "epoch_002.ckpt (2 epochs done)" in said
    assert metrics(tmp_path / "run")["epochs_run"] == 3


@pytest.mark.slow
def test_newest_intact_skips_truncated_and_empty_files(tiny_archive, tmp_path):
    out = train_py(
        "model=baseline", "callbacks.model_checkpoint.save_top_k=-1", *TINY, tmp_path=tmp_path, archive=tiny_archive
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ckpts = tmp_path / "run" / "checkpoints"
    newest = ckpts / "epoch_003.ckpt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # torn by a disk-full copy, say
    (ckpts / "epoch_009.ckpt").write_bytes(b"")
    best, broken = resume.newest_intact(ckpts)
    assert best is not None and best.path.name == "epoch_002.ckpt" and best.epochs_done == 2
    assert {p.name for p in broken} == {"epoch_003.ckpt", "epoch_009.ckpt"}  # last.ckpt is epoch_003: read once
    assert "empty" in broken[ckpts / "epoch_009.ckpt"] and "truncated" in broken[ckpts / "epoch_003.ckpt"]


@pytest.mark.slow
def test_only_broken_checkpoints_is_one_line_not_a_fresh_start(tiny_archive, tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "epoch_001.ckpt").write_bytes(b"PK\x03\x04 torn")
    out = train_py("ckpt_path=last", *TINY, tmp_path=tmp_path, archive=tiny_archive)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ckpt_path=last:") and "none is intact" in line and str(ckpts) in line
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow
def test_resuming_a_finished_run_says_so_and_trains_nothing(tiny_archive, tmp_path):
    first = train_py("model=early_stopping", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=2)
    assert first.returncode == 0, first.stderr[-2000:]
    before = (tmp_path / "run" / "metrics.json").read_text()
    again = train_py("model=early_stopping", "ckpt_path=last", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=2)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing to resume" in again.stdout and "already finished (2 of trainer.max_epochs=2" in again.stdout
    assert "== overfit" not in again.stdout  # no new summary: nothing was run
    assert (tmp_path / "run" / "metrics.json").read_text() == before
    # Resumed by path from a new run dir (Hydra's default): the dir, holding nothing but Hydra's files, is gone again.
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    again_args = ("model=early_stopping", f"ckpt_path={last}", *TINY)
    by_path = train_py(*again_args, tmp_path=tmp_path, archive=tiny_archive, epochs=2, default_run_dir=True)
    assert by_path.returncode == 0 and "nothing to resume" in by_path.stdout, by_path.stderr[-2000:]
    assert not list((tmp_path / "logs" / "runs").glob("*")), list((tmp_path / "logs" / "runs").glob("*"))


@pytest.mark.slow
def test_a_finished_older_checkpoint_does_not_quote_the_longer_runs_results(tiny_archive, tmp_path):
    """ckpt_path=<epoch 2 of a run that went on to 3 epochs>, trainer.max_epochs=2: nothing to resume, and the
    message must not pass the 3-epoch run's test accuracy off as that checkpoint's."""
    assert train_py(*TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=2).returncode == 0
    ckpts = tmp_path / "run" / "checkpoints"
    kept = ckpts / "kept_epoch_002.ckpt"
    shutil.copy(ckpts / "epoch_002.ckpt", kept)
    longer = train_py("ckpt_path=last", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=3)
    assert longer.returncode == 0 and metrics(tmp_path / "run")["epochs_run"] == 3, longer.stderr[-2000:]
    again = train_py(f"ckpt_path={kept}", *TINY, tmp_path=tmp_path, archive=tiny_archive, epochs=2)
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stderr[-2000:]
    assert "went on to 3 epochs" in again.stdout and "test acc" not in again.stdout, again.stdout


# ---- signals --------------------------------------------------------------------------------------------------


# The signal comes at the end of epoch 2's training batches, before its validation. Lightning acts on SIGTERM at
# the next safe point (after epoch 2's validation and checkpoint); Ctrl-C raises at once (epoch 1's is the newest).
@pytest.mark.slow
@pytest.mark.parametrize(
    "fault,code,name,newest",
    [
        ("sigterm:2", 143, "SIGTERM", "epoch_002.ckpt (2 epochs done)"),
        ("sigint:2", 130, "SIGINT", "epoch_001.ckpt (1 epochs done)"),
    ],
)
def test_signal_during_fit_fails_loudly_and_names_the_checkpoint(
    fault, code, name, newest, straight, tiny_archive, tmp_path
):
    out = train_py("model=dropout", *TINY, tmp_path=tmp_path, archive=tiny_archive, fault=fault)
    assert out.returncode == code, out.stderr[-2000:]
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: {name} during training at step ")
    # the script as it runs from where the command was launched (the test's cwd is not the checkout)
    assert f"resume from {newest} with: python {REPO / 'train.py'} ckpt_path=last hydra.run.dir=" in line
    assert "== overfit" not in out.stdout and not (tmp_path / "run" / "metrics.json").exists()
    again = train_py("model=dropout", "ckpt_path=last", *TINY, tmp_path=tmp_path, archive=tiny_archive)
    assert again.returncode == 0, again.stderr[-2000:]
    assert metrics(tmp_path / "run")["metrics"]["test/acc"] == pytest.approx(straight["test/acc"], abs=1e-6)
