"""Quiet and consistent (issue 23, item 4): what a run's terminal shows is what a user can act on, and numbers are
written one way (overfit/runs/numbers.py: accuracies in %, losses to 3 significant digits, ECE to 3 decimals,
T to 2). The runs here are read as a terminal shows them: train.py on a pseudo-terminal, its bytes replayed on a
small screen (carriage returns, cursor moves and erases, as tqdm and Rich use them)."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import forked
import pytest
from conftest import REPO, tiny_overrides
from omegaconf import OmegaConf

from overfit.compare.tables import markdown_table, pooled_markdown
from overfit.runs import numbers
from overfit.runs.console import layer_table, quiet_lightning
from overfit.runs.summary import print_summary

NOT_EMPTY = "exists and is not empty"


def on_a_terminal(args: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """`python train.py <args>` as a user runs it: a fresh process (Lightning imported after Hydra set up logging)
    whose stdout and stderr are one 200-column terminal; its raw output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    raw, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                raw += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(deadline - time.monotonic(), 1)), raw.decode("utf-8", "replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def screen(raw: str) -> list[str]:
    """The lines a terminal is left showing after `raw`: \\n moves down (the terminal's CR+LF), \\r to the line's
    start, ESC[nA / ESC[nB up and down, ESC[K / ESC[2K erase; other escapes ignored."""
    lines, row, col = [[]], 0, 0
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", raw):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
        elif token.startswith("\x1b["):
            count = int(token[2:-1]) if token[2:-1].isdigit() else 1
            if token[-1] == "A":
                row = max(row - count, 0)
            elif token[-1] == "B":
                row += count
            elif token[-1] == "K":
                lines[row][col if token[2:-1] in ("", "0") else 0 :] = []
        else:
            line = lines[row]
            line.extend(" " * (col - len(line)))
            line[col : col + len(token)] = token
            col += len(token)
        lines.extend([] for _ in range(row + 1 - len(lines)))
    shown = ["".join(line).rstrip() for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    return shown


@pytest.fixture(scope="module")
def first_run(tiny_archive, tmp_path_factory):
    """A 2-epoch run with the bar and the model summary on, as a user sees them; (its dir, the screen)."""
    tmp = tmp_path_factory.mktemp("quiet")
    keep = ("trainer.enable_progress_bar", "trainer.enable_model_summary", "paths.output_dir")
    overrides = [o for o in tiny_overrides(tiny_archive, tmp, epochs=2) if not o.startswith(keep)]
    run_dir = tmp / "run"
    code, raw = on_a_terminal([*overrides, f"hydra.run.dir={run_dir}"], cwd=tmp)
    assert code == 0, raw[-3000:]
    return run_dir, screen(raw), overrides


@pytest.mark.slow
def test_a_run_shows_only_lines_a_user_can_act_on(first_run):
    _, shown, _ = first_run
    text = "\n".join(shown)
    # the model summary: layers and parameters, not Lightning's table of FLOPs 0 and internal modules
    for noise in ("FLOPs", "Flops", "loss_fn", "epoch_totals", "eval_metrics", "Modules in train mode"):
        assert noise not in text, (noise, text)
    assert re.search(r"^model    BagOfWordsMLP: [\d,]+ parameters$", text, re.M) and "input   SparseLinear" in text
    # one bar line: the last epoch's, once (Lightning's "fit stopped" line under the open bar made it twice)
    assert [re.match(r"Epoch \d+/\d+", line)[0] for line in shown if line.startswith("Epoch")] == ["Epoch 2/2"], text
    # Lightning's lines nobody here can act on, and none printed twice (once plain, once with Hydra's timestamp)
    for noise in ("Seed set to", "GPU available: False", "TPU available", "`Trainer.fit` stopped", "Test metric"):
        assert noise not in text, (noise, text)
    assert not [line for line in shown if line.startswith("INFO: ") or "][lightning." in line], text
    assert "srun" not in text and "Testing" not in text  # Lightning's SLURM hint; the finished test bar


@pytest.mark.slow
def test_a_run_writes_accuracies_in_percent_and_numbers_to_their_digits(first_run):
    _, shown, _ = first_run
    text = "\n".join(shown)
    summary = text[text.index("== overfit: baseline (seed 0) ==") :]
    assert re.search(r"^test     loss \d\.\d{3}  acc \d{1,3}\.\d%  ECE \d\.\d{3}  AUROC \d\.\d{3}  \(", summary, re.M)
    assert re.search(r"^scaled   loss \d\.\d{3}  ECE \d\.\d{3}  \(temperature T = \d+\.\d\d, ", summary, re.M)
    assert re.search(
        r"^val      best acc \d{1,3}\.\d% at epoch \d  \(last: loss [\d.]+, acc \d{1,3}\.\d%\)", summary, re.M
    )
    assert re.search(
        r"^train    acc \d{1,3}\.\d%  acc_eval \d{1,3}\.\d%  loss [\d.e-]+  loss_eval [\d.e-]+$", summary, re.M
    )
    numbers_shown = re.findall(r"(?<![\w/.-])\d+\.\d+(?:e-\d+)?", summary.split("\nlogs ")[0])
    assert numbers_shown and all(len(n.split("e")[0].replace(".", "").lstrip("0")) <= 3 for n in numbers_shown), summary
    bar = next(line for line in shown if line.startswith("Epoch 2/2"))
    assert re.search(r"val/acc[=:] ?\d{1,3}\.\d%", bar) and "val/loss" in bar, bar  # the names as logged


def train_py(args: list[str], cwd: Path):
    """train.py <args> in a forked child, with Python's warnings as a user gets them (not the tests' filter)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    cmd = [sys.executable, str(REPO / "train.py"), *args]
    return forked.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_a_resume_into_its_own_dir_does_not_warn_but_a_fresh_run_into_a_full_dir_does(first_run, tmp_path):
    run_dir, _, overrides = first_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    resumed = train_py(
        ["ckpt_path=last", f"hydra.run.dir={copy}", "trainer.max_epochs=3"]
        + [o for o in overrides if o.startswith(("data.archive", "data.sha256", "paths."))],
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = resumed.stdout + resumed.stderr
    assert "epochs   3" in said and NOT_EMPTY not in said and "Restoring states" not in said, said
    assert f"(tensorboard --logdir {copy})" in said  # the run is not under this command's paths.log_dir

    stray = tmp_path / "full"
    (stray / "checkpoints").mkdir(parents=True)
    (stray / "checkpoints" / "notes.txt").write_text("not a checkpoint\n")
    one_epoch = [o for o in overrides if not o.startswith("trainer.max_epochs")] + ["trainer.max_epochs=1"]
    fresh = train_py([*one_epoch, f"hydra.run.dir={stray}"], cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert f"{stray / 'checkpoints'} {NOT_EMPTY}" in fresh.stderr  # still said where it means something


def test_numbers_are_written_one_way():
    assert numbers.pct(0.87136) == "87.1%" and numbers.pct(0.932933) == "93.3%" and numbers.pp(0.01534) == "+1.5 pp"
    assert numbers.sig(0.192624) == "0.193" and numbers.sig(2.42551e-05) == "2.43e-05" and numbers.sig(1.6452) == "1.65"
    assert numbers.sig(0.9996) == "1.00" and numbers.sig(0.09954) == "0.0995" and numbers.sig(245.3) == "245"
    assert numbers.dec(0.030012) == "0.030" and numbers.dec(0.998, 2) == "1.00" and numbers.pp(-0.0004) == "+0.0 pp"
    assert [numbers.metric(k, 0.9525) for k in ("train/acc_eval", "test/ece", "test/temperature", "val/loss")] == [
        "95.2%",
        "0.953",
        "0.95",
        "0.953",
    ]
    assert (
        numbers.cell_ci(1.6452, 0.4036, "loss") == "1.65 ± 0.40"
        and numbers.cell_ci(0.857, 0.0032, "acc") == "85.7 ± 0.3"
    )
    assert numbers.pct(float("nan")) == numbers.sig(None) == "-"


def test_the_summary_writes_each_number_to_its_digits(tmp_path, capsys):
    metrics = {
        "test/acc": 0.8714,
        "test/loss": 0.29698,
        "test/ece": 0.030012,
        "test/auroc": 0.948082,
        "test/loss_scaled": 0.2969,
        "test/ece_scaled": 0.0299,
        "test/temperature": 0.998,
        "val/acc": 0.8904,
        "val/loss": 0.28123,
        "train/acc": 0.932933,
        "train/loss": 0.192624,
        "train/gap": 2.42551e-05,
        "time/train_s": 1.5,
    }
    record = {"variant": "baseline", "seed": 0, "epochs_run": 3, "early_stopped": False, "best_val_acc": 0.8904}
    record |= {"best_val_epoch": 3, "metrics": metrics, "tested_checkpoint": None, "wall_s": 2.0}
    cfg = OmegaConf.create({"seed": 0, "paths": {"log_dir": str(tmp_path / "logs")}})
    out_dir = tmp_path / "elsewhere"  # hydra.run.dir outside paths.log_dir: TensorBoard is pointed at the run
    out_dir.mkdir()
    (out_dir / "events.out.tfevents.1.host.1.0").touch()
    print_summary(cfg, out_dir, record, None)
    out = capsys.readouterr().out
    assert "test     loss 0.297  acc 87.1%  ECE 0.030  AUROC 0.948  (final weights: epoch 3)" in out
    assert "scaled   loss 0.297  ECE 0.030  (temperature T = 1.00, " in out
    assert "val      best acc 89.0% at epoch 3  (last: loss 0.281, acc 89.0%)" in out
    assert "train    acc 93.3%  gap 2.43e-05  loss 0.193" in out
    assert f"(tensorboard --logdir {out_dir})" in out and (out_dir / "metrics.json").is_file()


def test_the_model_summary_lists_the_layers_that_hold_weights():
    from overfit.models.mlp import BagOfWordsMLP

    table = layer_table(BagOfWordsMLP(10_000, [16, 16])).splitlines()
    assert table[0] == "model    BagOfWordsMLP: 160,305 parameters"
    assert [line.split()[:3] for line in table[1:]] == [
        ["input", "SparseLinear", "10,000"],
        ["head.2", "Linear", "16"],
        ["head.5", "Linear", "16"],
    ]
    assert table[1].endswith(" 160,016") and table[3].endswith(" 17")  # 16 x 16 + 16 and 16 + 1 weights


def test_lightnings_lines_nobody_can_act_on_are_dropped_and_the_rest_kept():
    import lightning  # noqa: F401  (its loggers, as a run has them)

    quiet_lightning()
    caught: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            caught.append(record.getMessage())

    source = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    keep = Keep()
    source.addHandler(keep)
    try:
        for line in (
            "Seed set to 0",
            "GPU available: False, used: False",
            "TPU available: False, using: 0 TPU cores",
            "`Trainer.fit` stopped: `max_epochs=3` reached.",
            "Restoring states from the checkpoint path at x.ckpt",
            "GPU available: True (cuda), used: True",
            "`Trainer.fit` stopped: `max_steps=7` reached.",
        ):
            source.info(line)
    finally:
        source.removeHandler(keep)
    assert caught == ["GPU available: True (cuda), used: True", "`Trainer.fit` stopped: `max_steps=7` reached."]


def test_compares_tables_write_accuracies_in_percent():
    row = {"run": "baseline seed 0", "epochs": 20, "best_val_acc": 0.8904, "best_val_epoch": 3, "tested_epoch": 20}
    row |= {"final_val_loss": 0.65971, "test_loss": 0.72771, "test_acc": 0.85816, "train_s": 16.9}
    row |= {"test_ece": 0.10811, "test_ece_scaled": 0.01962, "temperature": 3.8604}
    assert "| baseline seed 0 | 20 | 89.0 (3) | 0.660 | 0.728 | 85.8 (20) | 16.9 s | 0.108 | 0.020 (3.86) |" in (
        markdown_table([row])
    )
    pooled = {"group": "big", "variant": "big", "n": 3, "n_paired": 3, "problems": ""}
    for metric, (mean, ci) in {
        "test_acc": (0.85, 0.006),
        "test_loss": (1.6452, 0.4036),
        "best_val_acc": (0.8854, 0.008),
        "min_val_loss": (0.2902, 0.0131),
        "gap": (0.1363, 0.0032),
        "test_acc_diff": (-0.007, 0.0091),
    }.items():
        pooled |= {f"{metric}_mean": mean, f"{metric}_ci95": ci}
    table = pooled_markdown([pooled])
    assert (
        "| big | 3 | 85.0 ± 0.6 | 1.65 ± 0.40 | 88.5 ± 0.8 | 0.290 ± 0.013 | 13.6 ± 0.3 | -0.7 ± 0.9 (n=3) |" in table
    )
    assert "| test acc % |" in table and "gap (train - val acc), pp" in table
