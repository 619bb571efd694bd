"""notebooks/*.ipynb: stored without outputs; run top to bottom (nbclient) in smoke mode on a tiny generated archive,
in a kernel that is this venv's python, writing only into a temp dir; a few of their real outputs checked."""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO
from nbclient import NotebookClient

import overfit

NOTEBOOKS = REPO / "notebooks"
NAMES = ("imdb_regularization", "optimization_lab")
KERNEL = "overfit-test-venv"
RUN = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_(\w+)_s(\d+)(?:-\d+)?$")  # <time>_<variant>_s<seed>


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory) -> Path:
    """A kernel spec that starts ipykernel with sys.executable (a plain `python3` spec runs whatever `python` is
    first on PATH)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    return root


def execute(name: str, env: dict[str, str], jupyter_path: Path, monkeypatch) -> tuple[nbformat.NotebookNode, float]:
    for key in ("OVERFIT_IMDB_ARCHIVE", "OVERFIT_DATA_DIR", "OVERFIT_ROOT", "OVERFIT_NB_OVERRIDES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.setenv("OVERFIT_NB_SMOKE", "1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint('kernel python:', sys.executable)"))
    before = sorted(NOTEBOOKS.rglob("*"))
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    seconds = time.perf_counter() - start
    assert sorted(NOTEBOOKS.rglob("*")) == before  # run from notebooks/, it wrote nothing there
    code_cells = sum(c.cell_type == "code" for c in nb.cells) - 1
    print(f"\n{name}.ipynb: {len(nb.cells) - 1} cells ({code_cells} code), executed in {seconds:.1f} s")
    assert stdout(nb).splitlines()[-1] == f"kernel python: {sys.executable}"
    return nb, seconds


def stdout(nb) -> str:
    return "".join(
        o.text for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stdout"
    ).rstrip("\n")


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs_and_parameters_first(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    first = nb.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    assert "OVERFIT_NB_SMOKE" in first.source
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.slow
def test_imdb_regularization_notebook(tiny_archive, tmp_path, jupyter_path, monkeypatch, record_property):
    logs = tmp_path / "logs"
    shrink = [
        f"data.archive={tiny_archive}",
        "data.sha256=null",
        "data.val_size=40",
        "data.batch_size=16",
        "data.vocab_size=50",
        f"paths.data_dir={tmp_path / 'data'}",
    ]
    env = {"OVERFIT_NB_LOG_DIR": str(logs), "OVERFIT_NB_OVERRIDES": shlex.join(shrink)}
    nb, seconds = execute("imdb_regularization", env, jupyter_path, monkeypatch)
    record_property("seconds", seconds)
    out = stdout(nb)

    assert f"runs go to {logs}" in out
    run_dirs = sorted((logs / "runs").iterdir())
    assert [RUN.match(p.name).group(1, 2) for p in run_dirs] == [
        (v, s) for v in ("baseline", "big", "dropout") for s in ("0", "1")
    ]
    assert all((p / "metrics.json").is_file() for p in run_dirs)
    # every run's summary names its dir: all of them under the temp log dir, none in the checkout's logs/
    summaries = re.findall(r"^logs {5}(\S+)", out, flags=re.M)
    assert sorted(map(Path, summaries)) == run_dirs
    assert all(json.loads((p / "metrics.json").read_text())["epochs_run"] == 3 for p in run_dirs)  # EPOCHS (smoke)

    # the pooled table as printed: one row per variant, two seeds each, the means compare_runs computes
    table = out.split("test acc - baseline\n", 1)[1].splitlines()[:3]
    pooled = {row["variant"]: row for row in overfit.compare_runs(logs)["pooled"]}
    assert [line.split()[0] for line in table] == ["baseline", "big", "dropout"]
    for line in table:
        variant, n, test_acc = line.split()[:3]
        assert n == "2" and test_acc == f"{pooled[variant]['test_acc_mean']:.4f}"
        paired = line.split()[-3] if variant != "baseline" else line.split()[-1]  # test acc - baseline, by seed
        assert paired == ("-" if variant == "baseline" else f"{pooled[variant]['test_acc_diff_mean']:+.4f}")
    assert "warning:" not in out
    # calibration (issue 22): each variant's pooled test ECE, as trained and at T, as compare_runs pools them
    ece_rows = out.split("ECE at T", 1)[1].splitlines()[1:4]
    for line in ece_rows:
        variant, ece = line.split()[:2]
        assert ece == f"{pooled[variant]['test_ece_mean']:.4f}"
    assert images(nb) == 3  # the learning curves, the gap, the reliability diagrams


@pytest.mark.slow
def test_optimization_lab_notebook(jupyter_path, monkeypatch, record_property):
    nb, seconds = execute("optimization_lab", {}, jupyter_path, monkeypatch)
    record_property("seconds", seconds)
    out = stdout(nb)

    diffs = [float(x) for x in re.findall(r"max \|ours - torch\.optim\| = (\S+)", out)]
    assert len(diffs) == 10 and max(diffs) < 1e-10  # 5 optimizers x 2 surfaces, float64: rounding only
    assert "from-scratch optimizers and torch.optim agree" in out and "(< 1e-10: True)" in out
    assert len(re.findall(r"\|analytic grad - autograd\| = (\S+)", out)) == 3

    regimes = re.findall(
        r"theory rate (\S+) -> (\w+)\s+run: (\w+)\s+after\s+(\d+) steps, measured contraction (\S+)", out
    )
    assert [(p, r) for _, p, r, _, _ in regimes] == [
        ("converge", "converged"),
        ("converge", "converged"),
        ("oscillate", "max_steps"),
        ("diverge", "diverged"),
    ]
    for rate, predicted, _, _, measured in regimes:
        if predicted != "oscillate":  # at the boundary the slow component still decays over the measured window
            assert float(measured) == pytest.approx(float(rate), abs=2e-3)
    assert "the three methods agree: True" in out
    assert images(nb) == 4  # surface, contour paths, step regimes, central-difference error
