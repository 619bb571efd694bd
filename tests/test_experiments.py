"""The three studies (conf/experiment/regularization|more_data|capacity.yaml): composition, grids and seeds as
Hydra's own sweeper expands them; a tiny end-to-end more_data sweep and scripts/results.py on it."""

from __future__ import annotations

import csv
import itertools
import math
import shutil
import sys

import forked
import pytest
from conftest import CONF, REPO
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from test_compare import sweep_overrides

from overfit.compare.studies import BEGIN, END
from overfit.compare.study_tables import machine

GRIDS = {  # experiment: (runs with the default 3 seeds, swept keys)
    "regularization": (18, ["model", "seed"]),
    "more_data": (54, ["model", "data.train_size", "seed"]),
    "capacity": (54, ["model", "model.hidden", "seed"]),
}


def table_rows(markdown: str) -> dict[str, list[str]]:
    """{first cell: the other cells} of every Markdown table row in `markdown`."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def run_py(*args: str):
    """`python <args>` from the repository root, forked from a process that imported torch and co. once."""
    return forked.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def compose_hydra(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def jobs(experiment: str, *command_line: str) -> list[dict]:
    """The jobs BasicSweeper launches for `python train.py experiment=<experiment> <command_line>`."""
    cfg = compose_hydra(f"experiment={experiment}", "paths.log_dir=/nonexistent", *command_line)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + list(command_line))
    batches = BasicSweeper.split_arguments(overrides, None)
    return [dict(o.split("=", 1) for o in job) for batch in batches for job in batch]


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
@pytest.mark.parametrize("experiment", GRIDS)
def test_each_study_is_a_multirun_over_three_seeds(experiment):
    runs, keys = GRIDS[experiment]
    grid = jobs(experiment)
    assert len(grid) == runs and list(grid[0]) == keys
    assert sorted({j["seed"] for j in grid}) == ["0", "1", "2"]
    assert len({tuple(j.items()) for j in grid}) == runs  # no job twice
    # seeds=5: five seeds; seed=7 on the command line replaces the seed sweep
    assert sorted({j["seed"] for j in jobs(experiment, "seeds=5")}) == ["0", "1", "2", "3", "4"]
    assert len(jobs(experiment, "seeds=5")) == runs // 3 * 5
    assert {j["seed"] for j in jobs(experiment, "seed=7")} == {"7"} and len(jobs(experiment, "seed=7")) == runs // 3
    cfg = compose_hydra(f"experiment={experiment}", "paths.log_dir=/nonexistent")
    assert str(cfg.hydra.mode).endswith("MULTIRUN") and cfg.seeds == 3
    subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"]
    assert subdir.startswith("${hydra.job.num}_${model.variant}_") and subdir.endswith("_s${seed}")


def test_more_data_grid_is_explicit_log_spaced_sizes_of_the_15k():
    grid = jobs("more_data")
    assert {j["model"] for j in grid} == {"baseline", "big", "dropout"}
    sizes = sorted({int(j["data.train_size"]) for j in grid})  # numbers, never null
    assert sizes[0] == 500 and sizes[-1] == 15_000 and len(sizes) >= 5
    ratios = [b / a for a, b in itertools.pairwise(sizes)]
    assert all(1.5 < r < 2.5 for r in ratios), ratios
    cfg = compose_hydra("experiment=more_data", "model=big", "data.train_size=500", "paths.log_dir=/nonexistent")
    assert cfg.data.train_size == 500 and list(cfg.model.hidden) == [512, 512] and cfg.model.variant == "big"
    assert "${data.train_size}" in OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"]


def test_capacity_grid_is_widths_2_to_512_with_and_without_dropout():
    grid = jobs("capacity")
    assert {j["model"] for j in grid} == {"baseline", "dropout"}
    widths = sorted({j["model.hidden"] for j in grid}, key=lambda h: int(h.strip("[]").split(",")[0]))
    assert widths == [f"[{2**k},{2**k}]" for k in range(1, 10)]
    for variant, dropout in (("baseline", 0.0), ("dropout", 0.5)):
        for hidden in ("[2,2]", "[512,512]"):
            cfg = compose_hydra(
                "experiment=capacity", f"model={variant}", f"model.hidden={hidden}", "paths.log_dir=/nonexistent"
            )
            assert list(cfg.model.hidden) == [int(hidden[1:].split(",")[0])] * 2
            assert cfg.model.dropout == dropout and cfg.model.variant == variant
            assert cfg.model.optimizer._target_ == "torch.optim.RMSprop" and cfg.model.optimizer.lr == 1e-3
            assert cfg.trainer.max_epochs == 20


@pytest.mark.slow
def test_tiny_more_data_sweep_and_results(tiny_archive, tmp_path):
    logs = tmp_path / "logs"
    result = run_py(
        "train.py", "experiment=more_data", "seeds=2", "data.train_size=20,80", *sweep_overrides(tiny_archive, tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (logs / "multiruns").iterdir()
    expected = [f"{v}_n{n}_s{s}" for v in ("baseline", "big", "dropout") for n in (20, 80) for s in (0, 1)]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == sorted(f"{i}_{e}" for i, e in enumerate(expected))

    readme = tmp_path / "README.md"
    readme.write_text(f"# Lab\n\nbefore\n\n{BEGIN}\nold text\n{END}\n\nafter\n")
    out = tmp_path / "docs" / "results"
    args = ["scripts/results.py", "--logs", str(logs), "--out", str(out), "--readme", str(readme)]
    missing = run_py(*args)  # no regularization / capacity sweep: refused without --partial
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    assert "experiment=regularization" in missing.stderr and "experiment=capacity" in missing.stderr
    result = run_py(*args, "--partial")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning" not in result.stderr and "more_data       12 runs" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "more_data.csv",
        "more_data_test_acc_gap_vs_train_size.png",
        "more_data_test_ece_vs_train_size.png",  # calibration (issue 22)
        "results.md",
    ]

    # pooled by train size (HPARAMS alone has no data.train_size: results adds it from .hydra/config.yaml)
    with open(out / "more_data.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["data.train_size"], r["n"], r["seeds"]) for r in rows] == [
        (v, str(n), "2", "0; 1") for v in ("baseline", "big", "dropout") for n in (20, 80)
    ]
    assert all(math.isfinite(float(r["test_acc_ci95"])) for r in rows)
    assert [r["n_paired"] for r in rows] == ["0", "0", "2", "2", "2", "2"]
    md = (out / "results.md").read_text()
    assert f"on {machine()}." in md and "from 1 sweep(s) of 20" in md and f"`{sweep.name}`: 12 runs" in md
    assert "| train size | baseline | big | dropout |" in md and "| train size | big | dropout |" in md
    assert "| 20 | " in md and "| 80 | " in md and " ± " in md
    assert "Test ECE (as trained):" in md and "Test ECE after temperature scaling:" in md
    assert "![more_data: test_acc_gap_vs_train_size.png](more_data_test_acc_gap_vs_train_size.png)" in md
    text = readme.read_text()
    assert text.startswith(f"# Lab\n\nbefore\n\n{BEGIN}\n") and text.endswith(f"\n{END}\n\nafter\n")
    assert "old text" not in text and "(docs/results/more_data_test_acc_gap_vs_train_size.png)" in text
    # the README gets a compact summary of the same numbers, linking to the full tables
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert f"on {machine()}: " in block and "over seeds 0, 1;" in block and "(docs/results/results.md)" in block
    assert f"**more_data** (`{sweep.name}`: 12 runs, max epochs " in block
    assert "| best val acc % |" not in block and block.count("\n") < md.count("\n") / 2
    summary = table_rows(block)
    assert summary["train size"] == ["20", "80"]
    for readme_row, full_title, variant in (
        ("baseline test acc %", "Test accuracy, %", "baseline"),
        ("baseline gap, pp", "Generalization gap (train acc - val acc at the last epoch), pp", "baseline"),
        ("big - baseline test acc, pp", "Test accuracy minus baseline (same seed, same train size), pp", "big"),
        ("dropout - baseline test acc, pp", "Test accuracy minus baseline (same seed, same train size), pp", "dropout"),
    ):
        full = table_rows(md.split(f"{full_title}:\n", 1)[1].strip().split("\n\n", 1)[0])
        column = full["train size"].index(variant)
        assert summary[readme_row] == [full["20"][column], full["80"][column]], readme_row
        assert all(" ± " in cell for cell in summary[readme_row])

    # deterministic: again, and from a copy of the sweep (new mtimes), the same bytes
    before = {p.name: p.read_bytes() for p in out.iterdir()} | {"README": readme.read_bytes()}
    copy = tmp_path / "copy" / sweep.name
    shutil.copytree(sweep, copy)
    again = run_py(*args, "--partial", "--more-data", str(copy))
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p.name: p.read_bytes() for p in out.iterdir()} | {"README": readme.read_bytes()} == before


def test_readme_summary_of_a_regularization_sweep(tmp_path):
    """The README's regularization table: one row per variant, mean ± CI in the units of the full tables."""
    from overfit.compare.study_tables import Sweep, readme_block

    def row(variant, n, acc, diff=None):
        stats = {"test_acc": acc, "gap": (0.13, 0.003), "test_loss": (0.7381, 0.0324)}
        stats |= {"test_acc_diff": diff} if diff else {}
        out = {"group": variant, "variant": variant, "n": n, "seeds": list(range(n)), "trainer.max_epochs": 20}
        return out | {f"{k}_{part}": v for k, (m, ci) in stats.items() for part, v in (("mean", m), ("ci95", ci))}

    pooled = [row("baseline", 3, (0.857, 0.003)), row("dropout", 2, (0.8734, 0.0051), (0.0161, 0.0062))]
    sweep = Sweep("regularization", tmp_path / "2026-12-01_13-32-52", runs=5, span_s=88.0, start=1.7646e9)
    block = readme_block({"regularization": (sweep, pooled, [], ["curves_pooled.png"])}, [sweep], "docs/results/")
    rows = table_rows(block)
    assert rows["variant"] == ["test acc %", "Δ test acc vs baseline, pp", "gap (train - val acc), pp", "test loss"]
    assert rows["baseline"] == ["85.7 ± 0.3", "-", "13.0 ± 0.3", "0.738 ± 0.032"]
    assert rows["dropout (n=2)"] == ["87.3 ± 0.5", "+1.6 ± 0.6", "13.0 ± 0.3", "0.738 ± 0.032"]
    assert "**regularization** (`2026-12-01_13-32-52`: 5 runs, max epochs 20, 88 s wall)" in block
    assert "over seeds 0, 1, 2;" in block and "[results.md](docs/results/results.md)" in block
    assert "![regularization: curves_pooled.png](docs/results/regularization_curves_pooled.png)" in block
