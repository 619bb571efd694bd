"""data.train_size: a seeded, nested subset of the training split; validation and test never change."""

import re
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from test_data_imdb import make as data_module

import overfit.data.imdb as imdb
from overfit.errors import OverfitError

TINY = {"vocab_size": 50, "val_size": 40}  # test_data_imdb's data module, sized for conftest's tiny archive
AVAILABLE = 80  # tiny_archive: 120 training reviews, minus val_size=40


def make(archive, tmp_path, **kwargs) -> imdb.IMDBDataModule:
    return data_module(archive, tmp_path, **{**TINY, **kwargs})


def ready(archive, tmp_path, stage="fit", **kwargs) -> imdb.IMDBDataModule:
    dm = make(archive, tmp_path, **kwargs)
    dm.prepare_data()
    dm.setup(stage)
    return dm


def test_subsets_are_seeded_nested_and_disjoint_from_val(tiny_archive, tmp_path):
    full = ready(tiny_archive, tmp_path)
    sizes = [1, 10, 25, 50, AVAILABLE]
    subsets = {n: ready(tiny_archive, tmp_path, train_size=n) for n in sizes}
    for n, dm in subsets.items():
        rows = dm.split_rows["train"]
        assert len(rows) == len(dm.datasets["train"]) == n and len(set(rows)) == n
        np.testing.assert_array_equal(dm.split_rows["val"], full.split_rows["val"])  # val never changes
        assert not set(rows) & set(dm.split_rows["val"])
        np.testing.assert_array_equal(dm.datasets["test"].labels, full.datasets["test"].labels)
        assert len(dm.datasets["val"]) == 40
    for small, large in zip(sizes, sizes[1:]):  # nested: a learning curve adds reviews, never swaps them
        assert set(subsets[small].split_rows["train"]) < set(subsets[large].split_rows["train"])
    np.testing.assert_array_equal(subsets[AVAILABLE].split_rows["train"], full.split_rows["train"])  # N = all
    # The rows are the training split's rows: same features and labels as in the full run.
    position = {row: i for i, row in enumerate(full.split_rows["train"])}
    picked = np.array([position[r] for r in subsets[25].split_rows["train"]])
    np.testing.assert_array_equal(subsets[25].datasets["train"].labels, full.datasets["train"].labels[picked])
    a, b = subsets[25].datasets["train"], full.datasets["train"]
    np.testing.assert_array_equal(a.__getitems__(list(range(25)))[0], b.__getitems__(picked.tolist())[0])


def test_seeded_by_split_seed_not_by_the_run_seed(tiny_archive, tmp_path):
    rows = lambda **kw: ready(tiny_archive, tmp_path, train_size=20, **kw).split_rows["train"]  # noqa: E731
    np.testing.assert_array_equal(rows(seed=1), rows(seed=2))
    np.testing.assert_array_equal(rows(split_seed=3), rows(split_seed=3))
    assert not np.array_equal(rows(split_seed=3), rows(split_seed=4))


def test_printed_class_counts_are_the_subsets(tiny_archive, tmp_path, capsys):
    dm = ready(tiny_archive, tmp_path, train_size=25)
    out = capsys.readouterr().out
    labels = dm.datasets["train"].labels
    neg, pos = int((labels == 0).sum()), int((labels == 1).sum())
    assert neg + pos == 25
    assert re.search(rf"train\s+{neg} neg\s+{pos} pos  \(data.train_size=25 of {AVAILABLE}\)", out), out
    assert re.search(r"val\s+\d+ neg\s+\d+ pos\n", out) and re.search(r"test\s+60 neg\s+60 pos", out)
    ready(tiny_archive, tmp_path)
    assert "train_size" not in capsys.readouterr().out  # the default prints as before


@pytest.mark.parametrize("value", [0, -5, 1.5, 100.0, "100", True])
def test_invalid_values_fail_in_init(tiny_archive, tmp_path, value):
    with pytest.raises(OverfitError, match=re.escape(f"data.train_size={value!r} is invalid")) as e:
        make(tiny_archive, tmp_path, train_size=value)
    assert "\n" not in str(e.value) and "null" in str(e.value)


def test_more_than_available_fails_in_setup(tiny_archive, tmp_path):
    dm = make(tiny_archive, tmp_path, train_size=AVAILABLE + 1)  # sha256=None: the size is known after reading
    dm.prepare_data()
    with pytest.raises(OverfitError, match=f"data.train_size={AVAILABLE + 1} is more than the {AVAILABLE} ") as e:
        dm.setup("fit")
    assert "\n" not in str(e.value) and f"at most {AVAILABLE}" in str(e.value)
    ready(tiny_archive, tmp_path, stage="test", train_size=AVAILABLE + 1)  # eval.py needs the test split only


def test_known_archives_check_the_upper_bound_in_init(tmp_path):
    """The default data.sha256 admits only the two known archives (25k training reviews): no archive needed yet."""
    imdb.IMDBDataModule(archive=str(tmp_path / "absent.tar.gz"), train_size=15_000)
    imdb.IMDBDataModule(archive=str(tmp_path / "absent.tar.gz"), train_size=20_000, val_size=5_000)
    with pytest.raises(OverfitError, match="data.train_size=15001 is more than the 15,000 training reviews") as e:
        imdb.IMDBDataModule(archive=str(tmp_path / "absent.tar.gz"), train_size=15_001)
    assert "\n" not in str(e.value) and "data.val_size=10000" in str(e.value)


def test_hydra_config(tiny_archive, tmp_path):
    data = OmegaConf.load(Path(__file__).parents[1] / "conf" / "data" / "imdb.yaml")
    assert data.train_size is None
    cfg = OmegaConf.create({"data": data, "paths": {"data_dir": str(tmp_path / "d")}, "seed": 0})
    cfg.data.merge_with({"archive": str(tiny_archive), "sha256": None, "vocab_size": 50, "val_size": 40})
    assert instantiate(cfg.data).train_size is None
    cfg.data.train_size = 30
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 30
