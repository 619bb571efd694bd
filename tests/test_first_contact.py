"""Issue 23, "an answer in a second": a config mistake, --help and --cfg job are answered before torch and
Lightning are imported (their import alone costs 5-8 s on a small machine). Checked by what each command imports
(`python -X importtime`), not by a clock: `python -m benchmarks startup` gives the seconds."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = ("torch", "lightning")


def run(*args: str, cwd, full_error: bool = False) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`python -X importtime <args>` in a fresh process: (its result, stderr less the import lines), the top-level
    packages it imported)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "OVERFIT_SET_HYDRA_FULL_ERROR")}
    if full_error:  # the user's own HYDRA_FULL_ERROR: run_hydra_main leaves everything to Hydra
        env["HYDRA_FULL_ERROR"] = "1"
    cmd = [sys.executable, "-X", "importtime", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    imported, rest = set(), []
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
        else:
            rest.append(line)
    done.stderr = "\n".join(rest)
    return done, imported


ERRORS = [
    (["train.py", "modle=dropout"], "error: modle is not a setting of this config: did you mean model?"),
    (["train.py", "model=dropuot"], "error: model=dropuot: there is no conf/model/dropuot.yaml; did you mean"),
    (["train.py", "trainer.max_epochs=[1"], "error: "),  # the override parser's own words, on one line
    (["train.py", "-m", "model=baseline,dropuot"], "error: model=dropuot: there is no conf/model/dropuot.yaml"),
    (["train.py", "-m", "modle=1,2"], "error: modle is not a setting of this config: did you mean model?"),
    (["train.py", "seeds=0"], "error: seeds=0: the number of seeds must be an integer >= 1"),
    (["train.py", "debug=fdx"], "error: debug=fdx: there is no conf/debug/fdx.yaml; did you mean debug=fdr?"),
    (["eval.py", "ckpt_path=x.ckpt", "modle=3"], "error: modle is not a setting of this config"),
    (["predict.py", "ckpt_path=x.ckpt", "files=r.txt"], "error: 'files=r.txt': unknown setting files="),
    (["predict.py", "ckpt_path=x.ckpt", "format=xml", "a review"], "error: format=xml: choose format=table"),
]


@pytest.mark.parametrize("args, line", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_a_config_mistake_is_one_line_before_torch_is_imported(args, line, tmp_path):
    done, imported = run(str(REPO / args[0]), *args[1:], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(line) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
    assert not (tmp_path / "logs").exists()  # refused before any run dir


ANSWERS = [
    (["train.py", "--cfg", "job"], "seed: 0"),
    (["train.py", "--cfg", "job", "model=dropout", "debug=limit"], "limit_train_batches: 5"),
    (["eval.py", "--cfg", "job", "ckpt_path=x.ckpt"], "ckpt_path: x.ckpt"),
    (["predict.py", "--help"], "Print P(positive) for reviews"),
]


@pytest.mark.parametrize("args, shown", ANSWERS, ids=[" ".join(a) for a, _ in ANSWERS])
def test_cfg_job_and_predicts_help_answer_before_torch_is_imported(args, shown, tmp_path):
    done, imported = run(str(REPO / args[0]), *args[1:], cwd=tmp_path)
    assert done.returncode == 0 and shown in done.stdout, done.stderr
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


HELP = [
    ["train.py", "--help"],
    ["train.py", "-h", "model=dropout", "trainer=cpu", "logger=null"],
    ["train.py", "--help", "experiment=capacity"],
    ["eval.py", "--help", "ckpt_path=x.ckpt"],
]


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
@pytest.mark.parametrize("args", HELP, ids=[" ".join(a) for a in HELP])
def test_help_is_hydras_own_text_answered_before_torch_is_imported(args, tmp_path):
    """overfit.cli.print_app_help writes Hydra's help (in a third of Hydra's time): byte for byte what Hydra prints
    when it answers itself (with the user's HYDRA_FULL_ERROR set, run_hydra_main leaves everything to Hydra)."""
    ours, imported = run(str(REPO / args[0]), *args[1:], cwd=tmp_path)
    hydras, _ = run(str(REPO / args[0]), *args[1:], cwd=tmp_path, full_error=True)
    assert ours.returncode == hydras.returncode == 0, ours.stderr + hydras.stderr
    assert "== Configuration groups ==" in ours.stdout
    assert "debug: default, fdr, limit, overfit, profiler" in ours.stdout
    assert ours.stdout == hydras.stdout
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_help_with_a_mistake_is_the_one_line_error(tmp_path):
    done, imported = run(str(REPO / "train.py"), "--help", "modle=dropout", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: modle is not a setting of this config: did you mean model?"
    assert imported.isdisjoint(HEAVY)


def test_the_startup_benchmark_refuses_zero_repeats(capsys):
    from benchmarks import startup

    with pytest.raises(SystemExit) as stop:
        startup.main(["--repeats", "0"], prog="startup")
    assert stop.value.code == 2 and "--repeats 0: give 1 or more" in capsys.readouterr().err


@pytest.mark.slow
def test_the_startup_benchmark_times_each_command_against_python_c_pass(capsys):
    from benchmarks import startup

    startup.main(["--repeats", "1"], prog="startup")
    out = capsys.readouterr().out
    for label, _, _ in startup.COMMANDS:
        row = re.search(rf"\| `{re.escape(label)}` \| (\d+\.\d\d) s \|", out)
        assert row and float(row.group(1)) > 0, (label, out)
    assert "target: each within 1.5 s" in out


def test_the_sweep_end_callback_every_run_instantiates_loads_no_plotting():
    """Hydra instantiates hydra.callbacks.compare for every run, single ones included: importing it must not load
    compare's tables and figures (matplotlib, scipy.stats, torch; ~2 s) that only a sweep's end uses."""
    code = "import sys, overfit.compare.sweep_end; print(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(eval(done.stdout))
    assert not loaded & {"matplotlib", "scipy", "torch", "torchmetrics", "lightning"}, loaded
