"""A value of the wrong type for any setting is one line naming the setting, the value and the expected type
(exit 2), before any data work: in a single run, in a -m sweep and from overfit.run (checks.check_setting_types)."""

from __future__ import annotations

import sys

import forked
import pytest
from conftest import CONF, REPO, tiny_overrides
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

import overfit
from overfit.errors import OverfitError
from overfit.runs import dirs as rundir
from overfit.runs.checks import check_setting_types


@pytest.fixture
def check():
    """check_setting_types on the config these overrides compose, as inside a job of `python train.py <overrides>`."""
    rundir.register()
    saved = HydraConfig.instance().cfg

    def run(*overrides: str) -> None:
        with initialize_config_dir(str(CONF), version_base="1.3", job_name="train"):
            cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            check_setting_types(cfg)

    yield run
    HydraConfig.instance().cfg = saved


@pytest.mark.parametrize(
    "overrides,line",
    [
        ("trainer.max_epochs=abc", "trainer.max_epochs=abc: expected an integer (the default is 20)"),
        ("trainer.max_epochs=2.5", "trainer.max_epochs=2.5: expected an integer (the default is 20)"),
        ("data.batch_size=null", "data.batch_size=null: expected an integer (the default is 512)"),
        ("model.dropout=true", "model.dropout=true: expected a number (the default is 0.0)"),
        ("model=dropout model.dropout=half", "model.dropout=half: expected a number (the default is 0.5)"),
        ("model.optimizer.lr=[1]", "model.optimizer.lr=[1]: expected a number (the default is 0.001)"),
        ("model.hidden=16", "model.hidden=16: expected a list (the default is [16, 16])"),
        ("trainer.deterministic=1", "trainer.deterministic=1: expected true or false (the default is true)"),
        ("trainer.max_epochs=5 trainer.max_epochs=x", "trainer.max_epochs=x: expected an integer (the default is 20)"),
        ("++trainer.max_epochs=x", "trainer.max_epochs=x: expected an integer (the default is 20)"),
        ("experiment=factorization model.rank=2.5", "model.rank=2.5: expected an integer (the default is 2)"),
    ],
)
def test_a_value_of_the_wrong_type_is_one_line(check, overrides, line):
    with pytest.raises(OverfitError) as err:
        check(*overrides.split())
    assert str(err.value) == line


@pytest.mark.parametrize(
    "overrides",
    [
        "seed=1 trainer.max_epochs=3 model.optimizer.lr=1 model.dropout=0",  # ints where numbers are asked
        "trainer.devices=auto",  # Lightning's Trainer declares devices: list[int] | str | int
        "trainer.devices=[0]",
        "trainer.deterministic=warn",
        "trainer.max_epochs=null",  # Optional[int]
        "data.sha256=c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",  # list[str] | str | None
        "data.sha256=null data.train_size=500",  # a null default takes anything
        "cpu_threads=2 paths.log_dir=2024 test=null",  # a str default takes anything, a null any untyped setting
        "model.hidden=[32,32] +trainer.gradient_clip_val=0.5",  # +: a new key, no default to compare with
    ],
)
def test_values_of_a_type_the_setting_takes_pass(check, overrides):
    check(*overrides.split())


@pytest.mark.slow
def test_train_py_says_it_in_one_line_and_leaves_nothing(tiny_archive, tmp_path):
    overrides = [o for o in tiny_overrides(tiny_archive, tmp_path) if not o.startswith("paths.output_dir")]
    for sweep in ([], ["-m"]):  # a -m sweep: the job's error ends the sweep in the same line, exit 2
        out = forked.run(
            [sys.executable, str(REPO / "train.py"), *sweep, *overrides, "trainer.max_epochs=abc"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 2, out.stderr[-3000:]
        line = out.stderr.strip().splitlines()[-1]
        assert line == "error: trainer.max_epochs=abc: expected an integer (the default is 20)"
        assert "Traceback" not in out.stderr and "IMDB class counts" not in out.stdout  # before any data work
        assert not (tmp_path / "data").exists()
        for runs in ("runs", "multiruns/*"):  # no run dir, no job dir
            assert [p.name for p in (tmp_path / "logs").glob(f"{runs}/*") if p.name != "multirun.yaml"] == []


def test_overfit_run_raises_the_same_line(tiny_archive, tmp_path):
    shrunk = [o for o in tiny_overrides(tiny_archive, tmp_path) if not o.startswith("paths.output_dir")]
    with pytest.raises(OverfitError, match=r"^model\.hidden=16: expected a list \(the default is \[16, 16\]\)$"):
        overfit.run(*shrunk, "model.hidden=16")
    assert list((tmp_path / "logs" / "runs").iterdir()) == []
