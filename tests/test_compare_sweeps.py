"""Sweeps in compare.py: runs of different train sizes or widths are never pooled together, each variant is paired
with the baseline of the same train size or width, and the pooled figures (curves, test acc and gap vs the swept
value) are drawn for what was swept. Runs written as event files by test_compare_pooling.write_run."""

from __future__ import annotations

import matplotlib.image
import pytest
from test_compare_pooling import HIDDEN, write_run

from overfit.compare import load_runs, pool_runs, write_comparison


def check_pngs(paths):
    assert paths
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0, path
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.std() > 0, path


@pytest.mark.slow
def test_runs_of_different_train_sizes_are_never_pooled(tmp_path):
    root = tmp_path / "sizes"
    for size in (100, 1000, 10000):
        for seed in (0, 1):
            for variant in ("baseline", "dropout"):
                acc = 0.5 + size / 40000 + seed / 100 + (0.02 if variant == "dropout" else 0)
                write_run(root / f"{variant}_{size}_{seed}", variant, seed, acc, data__train_size=size)
    runs = load_runs(root)
    rows = pool_runs(runs)
    assert [(r["variant"], r["data.train_size"], r["n"]) for r in rows] == [
        ("baseline", 100, 2),
        ("baseline", 1000, 2),
        ("baseline", 10000, 2),
        ("dropout", 100, 2),
        ("dropout", 1000, 2),
        ("dropout", 10000, 2),
    ]
    assert rows[0]["group"] == "baseline train_size=100"
    for r in rows:
        assert r["test_acc_mean"] == pytest.approx(
            0.505 + r["data.train_size"] / 40000 + (r["variant"] == "dropout") * 0.02, abs=1e-6
        )
        if r["variant"] == "dropout":  # paired with the baseline of the same train size, not another one
            assert r["n_paired"] == 2 and r["test_acc_diff_mean"] == pytest.approx(0.02, abs=1e-6)
    assert len({r.label for r in runs}) == len(runs)  # labels say the train size too
    written = write_comparison(runs, tmp_path / "cmp")
    names = {p.name for p in written["figures"]}
    assert {
        "curves_pooled_train_size=100.png",
        "curves_pooled_train_size=1000.png",
        "test_acc_gap_vs_train_size.png",
    } <= names
    assert not any("vs_width" in n for n in names)  # width not swept
    check_pngs(written["figures"])


@pytest.mark.slow
def test_width_sweep_figure_and_pairing_on_width(tmp_path):
    root = tmp_path / "widths"
    for width in (8, 32, 128):
        for seed in (0, 1, 2):
            for variant in ("baseline", "l2"):
                acc = 0.7 + width / 1000 + seed / 100 + (0.01 if variant == "l2" else 0)
                write_run(
                    root / f"{variant}_{width}_{seed}",
                    variant,
                    seed,
                    acc,
                    model__hidden=f"[{width}, {width}]",
                    model__optimizer__weight_decay=0.001 if variant == "l2" else 0.0,
                )
    runs = load_runs(root)
    rows = pool_runs(runs)
    assert len(rows) == 6 and all(r["n"] == 3 for r in rows)
    l2 = [r for r in rows if r["variant"] == "l2"]
    # weight decay differs only between the variants (what l2 is): still paired; the width is matched
    assert all(r["n_paired"] == 3 and r["test_acc_diff_mean"] == pytest.approx(0.01, abs=1e-6) for r in l2)
    written = write_comparison(runs, tmp_path / "cmp")
    names = {p.name for p in written["figures"]}
    assert "test_acc_gap_vs_width.png" in names and "curves_pooled_hidden=8x8.png" in names
    check_pngs(written["figures"])


@pytest.mark.slow
def test_six_variant_sweep_writes_one_pooled_curves_figure(tmp_path):
    root = tmp_path / "six"
    for i, variant in enumerate(HIDDEN):
        for seed in (0, 1):
            write_run(root / f"{variant}{seed}", variant, seed, 0.8 + i / 100 + seed / 100)
    written = write_comparison(load_runs(root), tmp_path / "cmp")
    pooled = [p for p in written["figures"] if "pooled" in p.name or "_vs_" in p.name and "test_acc" in p.name]
    assert [p.name for p in pooled] == ["curves_pooled.png"]  # nothing swept: no size/width figures
    check_pngs(written["figures"])
    assert len(written["pooled"]) == 6 and all(r["n"] == 2 and r["n_paired"] in (0, 2) for r in written["pooled"])
