"""The CLI: config composition (hydra compose API), run_lab's table and PNGs, and one run of the script as a process
of its own (forked: tests/forked.py)."""

import importlib.util
import sys
from pathlib import Path

import forked
import pytest
from hydra import compose, initialize_config_dir

from overfit.optim_lab import OptimLabError
from overfit.optim_lab.lab import CONF_DIR, run_lab

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cfg(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def assert_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and 1_000 < len(data) < 400_000, (path, len(data))


def test_single_run_table_and_pngs(tmp_path, capsys):
    c = cfg("surface=beale", "optimizer=adam", "optimizer.lr=0.1", "start=[0.7,1.4]", "plots=true")
    results = run_lab(c, tmp_path)
    (r,) = results.values()
    assert r.reason == "converged" and r.distance_to((3, 0.5)) < 5e-3
    out = capsys.readouterr().out
    for word in ("final point", "steps", "stop", "|x - x*|", "converged", "408"):
        assert word in out
    for name in ("surface_3d.png", "contour.png"):
        assert_png(tmp_path / name)


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_stopping_rules_come_from_the_config(tmp_path):
    base = ("surface=beale", "optimizer=adam", "optimizer.lr=0.1", "start=[0.7,1.4]", "plots=false", "max_steps=600")
    c = cfg(*base)
    assert (c.tol, c.gtol, c.xtol) == (1e-7, 1e-4, 1e-4)
    (r,) = run_lab(c, tmp_path, verbose=False).values()
    assert (r.reason, r.steps) == ("converged", 408)
    # gtol=0: the gradient is never exactly 0, so the run cannot converge; xtol=0 likewise
    for override in ("gtol=0", "xtol=0"):
        (r,) = run_lab(cfg(*base, override), tmp_path, verbose=False).values()
        assert (r.reason, r.steps) == ("max_steps", 600), override


def test_several_optimizers_and_quadratic_regimes(tmp_path):
    c = cfg("surface=quadratic", "optimizers=[gd,momentum,{name:adam,lr:0.05}]", "optimizer.lr=0.01")
    results = run_lab(c, tmp_path, verbose=False)
    assert [k.split()[0] for k in results] == ["gd", "momentum", "adam"]
    assert "lr=0.05" in list(results)[2]
    for name in ("surface_3d.png", "contour.png", "step_regimes.png"):
        assert_png(tmp_path / name)


@pytest.mark.parametrize(
    "overrides,culprit",
    [
        (["optimizer.lr=0"], "lr=0"),
        (["optimizer=gd", "optimizer.lr=-0.5"], "lr=-0.5"),
        (["start=[1.0,2.0,3.0]"], "start"),
        (["optimizers=[gd,sgdx]"], "sgdx"),
        (["gtol=-1"], "gtol=-1"),
        (["xtol=-0.5"], "xtol=-0.5"),
    ],
)
def test_bad_input_is_one_line(tmp_path, overrides, culprit):
    with pytest.raises(OptimLabError) as e:
        run_lab(cfg(*overrides), tmp_path, verbose=False)
    assert culprit in str(e.value) and "\n" not in str(e.value)
    assert not list(tmp_path.glob("*.png"))  # validated before anything is drawn


@pytest.mark.slow
def test_script_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    ok = forked.run(  # a process of its own, forked from one that imported torch and Hydra once
        [
            sys.executable,
            "scripts/optim_lab.py",
            "surface=beale",
            "optimizer=adam",
            "optimizer.lr=0.1",
            "start=[0.7,1.4]",
            "autodiff=true",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "converged" in ok.stdout and "(2.9958, 0.4990)" in ok.stdout and "forward" in ok.stdout
    for name in ("surface_3d.png", "contour.png", "autodiff_step_error.png"):
        assert_png(run_dir / name)


def test_script_bad_input_exits_with_one_line(tmp_path, monkeypatch, capsys):
    # in-process (a second subprocess would cost seconds): execute the script as __main__ with patched argv, so
    # that Hydra resolves config_path against the script file as it does on the command line
    monkeypatch.setattr(sys, "argv", ["optim_lab.py", "optimizer.lr=0", f"hydra.run.dir={tmp_path}"])
    spec = importlib.util.spec_from_file_location("__main__", ROOT / "scripts" / "optim_lab.py")
    with pytest.raises(SystemExit) as e:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2, err
    assert err.count("\n") == 0 and err.startswith("error: adam: lr=0")


def test_package_does_not_import_lightning():
    # the lab must run without Lightning: no module of the package (or the script) imports it
    sources = list((ROOT / "src" / "overfit" / "optim_lab").glob("*.py")) + [ROOT / "scripts" / "optim_lab.py"]
    assert len(sources) >= 9
    for path in sources:
        for line in path.read_text().splitlines():
            words = line.split()
            assert not (words[:1] in (["import"], ["from"]) and "lightning" in words[1]), (path, line)
