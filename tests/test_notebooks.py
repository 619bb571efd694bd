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


def test_imdb_notebooks_runs_go_to_notebooks_runs_which_git_ignores(monkeypatch):
    """Not logs/: `tensorboard --logdir logs` shows the command line's runs only (issue 23)."""
    monkeypatch.delenv("OVERFIT_NB_LOG_DIR", raising=False)
    first = nbformat.read(NOTEBOOKS / "imdb_regularization.ipynb", as_version=4).cells[0]
    names: dict = {}
    exec(first.source, names)  # the parameters cell: imports and assignments only
    assert names["LOG_DIR"].parent == REPO / "notebooks" / "runs"
    assert "/notebooks/runs/" in (REPO / ".gitignore").read_text().splitlines()
    assert names["VARIANTS"] == ["baseline", "small", "big", "l2", "dropout", "early_stopping"]


VARIANTS = ("baseline", "small", "big", "l2", "dropout", "early_stopping")
REMEDIES = ("small", "l2", "dropout", "early_stopping")


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

    assert f"runs go to {logs}" in out and f"tensorboard --logdir {logs}" in out
    run_dirs = sorted((logs / "runs").iterdir())
    # all six variants, two seeds each (runs started within one second sort by name, not by start)
    assert sorted(RUN.match(p.name).group(1, 2) for p in run_dirs) == sorted((v, s) for v in VARIANTS for s in "01")
    assert all((p / "metrics.json").is_file() for p in run_dirs)
    # every run's summary names its dir: all of them under the temp log dir, none in the checkout's logs/
    summaries = re.findall(r"^logs {5}(\S+)", out, flags=re.M)
    assert sorted(map(Path, summaries)) == run_dirs
    assert all(json.loads((p / "metrics.json").read_text())["epochs_run"] == 2 for p in run_dirs)  # EPOCHS (smoke)

    # the pooled table as printed, in percent: one row per variant, two seeds each, the means compare_runs computes
    table = out.split("test acc - baseline (pp)\n", 1)[1].splitlines()[:6]
    pooled = {row["variant"]: row for row in overfit.compare_runs(logs)["pooled"]}
    assert [line.split()[0] for line in table] == list(VARIANTS)
    for line in table:
        variant, n, test_acc = line.split()[:3]
        assert n == "2" and test_acc == f"{100 * pooled[variant]['test_acc_mean']:.1f}"
        paired = line.split()[-3] if variant != "baseline" else line.split()[-1]  # test acc - baseline, by seed
        assert paired == ("-" if variant == "baseline" else f"{100 * pooled[variant]['test_acc_diff_mean']:+.1f}")
    assert "warning:" not in out
    # calibration (issue 22): each variant's pooled test ECE, as trained and at T, as compare_runs pools them
    ece_rows = out.split("ECE at T", 1)[1].splitlines()[1:7]
    for line in ece_rows:
        variant, ece = line.split()[:2]
        assert ece == f"{pooled[variant]['test_ece_mean']:.3f}"
    assert images(nb) == 4  # the learning curves, the gap, the reliability diagrams, the top words

    # the answers: sentences computed from the runs, naming the variant the numbers point to
    best = lambda names, key, sign=1: max(names, key=lambda v: sign * pooled[v][key])  # noqa: E731
    assert re.search(rf"^{best(VARIANTS, 'gap_mean')} overfits most: .* (clearly|not clearly) more than", out, re.M)
    verdicts = dict(re.findall(r"^(\w+) +gap .* -> (narrower|wider|not resolved)\b", out, re.M))
    assert set(verdicts) == set(REMEDIES)
    winner = re.search(r"^(\w+) has the best test accuracy of the remedies, ([\d.]+)(?: ± [\d.]+)?%", out, re.M)
    assert winner.group(1) == best(REMEDIES, "test_acc_mean")
    assert winner.group(2) == f"{100 * pooled[winner.group(1)]['test_acc_mean']:.1f}"
    assert re.search(r"(a clear winner|no clear winner between them with 2 seeds)\.$", out, re.M)
    top = re.search(r"^The best test accuracy is (\w+)'s", out, re.M).group(1)
    assert top == best(VARIANTS, "test_acc_mean")
    calibrated = best(VARIANTS, "test_ece_mean", -1)
    assert re.search(
        rf"^Yes: {top} also" if calibrated == top else rf"^No: the lowest test ECE is {calibrated}'s", out, re.M
    )

    # inside the baseline: top words each way, non-empty and disjoint; the surest mistakes on the wrong side of 0.5
    words = {
        side: re.findall(r"(\S+) \(([+-]\d+\.\d+)\)", re.search(rf"^top {side}: (.*)$", out, re.M).group(1))
        for side in ("positive", "negative")
    }
    assert words["positive"] and words["negative"]
    assert not {w for w, _ in words["positive"]} & {w for w, _ in words["negative"]}
    assert all(float(s) > 0 for _, s in words["positive"]) and all(float(s) < 0 for _, s in words["negative"])
    mistakes = re.findall(r"rated (\d+)/10 \((positive|negative)\): P\(positive\) = (\S+) \(logit (\S+)\)", out)
    assert 1 <= len(mistakes) <= 3  # MISTAKES (smoke)
    for rating, truth, p, logit in mistakes:
        assert (float(p) < 0.5) if truth == "positive" else (float(p) > 0.5)
        assert float(logit) * (float(p) - 0.5) >= 0 and (int(rating) >= 7) == (truth == "positive")
    surest = [abs(float(logit)) for *_, logit in mistakes]
    assert surest == sorted(surest, reverse=True)
    # the checkpoint's own predictions give the run's own test accuracy
    wrong, measured = re.search(r"test reviews wrong \((\S+)%; its run measured test accuracy (\S+)%\)", out).groups()
    assert float(wrong) == pytest.approx(100 - float(measured), abs=0.11)


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

    # the answers, computed from the runs above them
    tables = {
        part.split(",")[0].split("(")[0]: dict(
            (name, (int(steps), stop))
            for name, steps, stop in re.findall(r"^(\w+) \(lr=\S+\) .* (\d+) (\w+) +\S+$", part, re.M)
        )
        for part in re.split(r"^surface: ", out, flags=re.M)[1:]  # format_table's tables
    }
    assert set(tables) == {"Beale", "Quadratic"}  # RACE_ON (smoke)
    fastest = dict(re.findall(r"^(beale|quadratic): (\w+) \(lr=\S+\) in [\d,]+ steps", out, re.M))
    for surface, name in fastest.items():
        done = {n: steps for n, (steps, stop) in tables[surface.capitalize()].items() if stop == "converged"}
        assert done[name] == min(done.values())
    assert fastest == {"beale": "nesterov", "quadratic": "nesterov"}
    assert "The same optimizer is fastest on every surface: nesterov." in out
    assert "Regimes: 6 of 6 runs end as the theory predicts" in out and "Rates: within 1% for 5 of 6:" in out
    assert re.search(
        r"Not for momentum at its optimal step: .* \(measured 0\.5372\): that matches within 1%", out, re.S
    )
    assert "they agree. Central differences" in out
    best_h = {
        dt: (float(err), float(h)) for dt, err, h in re.findall(r"^(float\d\d): .* is (\S+), at h = (\S+) ", out, re.M)
    }
    assert best_h["float64"][0] < 1e-7 < best_h["float32"][0] and best_h["float64"][1] < best_h["float32"][1]
    assert "non-finite coordinates: forward 3, reverse 3, numerical 2 of 3" in out
