"""End to end on the real IMDB archive: runs where the labeled repack lies beside the repo
(../shared/data/imdb/aclImdb_v1_labeled.tar.gz), as on this project's CI; skipped elsewhere."""

import json
from pathlib import Path

import pytest
from conftest import SHARED_ARCHIVE, compose_train

from overfit.train import train

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not SHARED_ARCHIVE.is_file(), reason=f"real IMDB archive not found at {SHARED_ARCHIVE}"),
]


@pytest.mark.slow
def test_early_stopping_reaches_87_percent_on_the_real_test_set(tmp_path, capsys):
    cfg = compose_train(
        [
            "model=early_stopping",
            f"data.archive={SHARED_ARCHIVE}",  # checksum verified against the known repack
            f"paths.data_dir={tmp_path / 'data'}",  # cold cache: the whole pipeline runs
            f"paths.output_dir={tmp_path / 'run'}",
            "trainer.enable_progress_bar=false",
        ]
    )
    best_val = train(cfg)
    out = capsys.readouterr().out
    # Labels come from the folders: 25k test reviews, half of each class; 15k/10k train/val.
    assert "test  12,500 neg 12,500 pos" in out
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["metrics"]["test/acc"] >= 0.87, record
    assert best_val >= 0.87
    assert record["tested_checkpoint"], "early stopping must test the best checkpoint"
    assert record["epochs_run"] < 20 and record["early_stopped"]
