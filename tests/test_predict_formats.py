"""predict.py format=json|csv: the rows a script reads, against the probabilities overfit.predict gives, in order,
with every review whole (the table cuts them at 70 characters) and the table's "-" as null / an empty cell."""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import pytest
from conftest import REPO

from overfit.predict import format_predictions, predict

LONG = ("A moving, brilliant film with superb acting, a charming story and a wonderful ending. " * 2).strip()
REVIEWS = [LONG, 'awful, "boring" and dull', "xyzzy", ""]  # a known review, quotes and commas, no known word, empty


@pytest.fixture(scope="module")
def predict_py():
    spec = importlib.util.spec_from_file_location("_predict_script", REPO / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli(predict_py, capsys, *args: str) -> tuple[int, str, str]:
    code = predict_py.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_rows_hold_whole_reviews_and_full_probabilities(predict_py, capsys, run):
    code, out, err = cli(predict_py, capsys, f"ckpt_path={run.ckpt}", "format=json", *REVIEWS)
    assert code == 0, err
    rows = json.loads(out)
    expected = predict(run.ckpt, REVIEWS)
    assert [r["n"] for r in rows] == [1, 2, 3, 4] and [r["review"] for r in rows] == REVIEWS
    assert [r["p_positive"] for r in rows] == expected and expected[0] is not None and expected[2] is None
    assert rows[0]["label"] == ("positive" if expected[0] >= 0.5 else "negative") and rows[0]["note"] is None
    assert (rows[2]["label"], rows[2]["note"]) == (None, "no known word")
    assert (rows[3]["p_positive"], rows[3]["note"]) == (None, "empty")


def test_csv_has_a_header_and_reads_back_the_same_rows(predict_py, capsys, run, tmp_path):
    lines = tmp_path / "reviews.txt"
    lines.write_text("\n".join(REVIEWS) + "\n")
    code, out, err = cli(predict_py, capsys, f"ckpt_path={run.ckpt}", f"file={lines}", "format=csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["n", "p_positive", "label", "note", "review"]
    expected = predict(run.ckpt, REVIEWS)
    assert [r["review"] for r in rows] == REVIEWS and [int(r["n"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["p_positive"]) if r["p_positive"] else None for r in rows] == expected
    assert [r["note"] for r in rows] == ["", "", "no known word", "empty"]


def test_the_table_stays_the_default(predict_py, capsys, run):
    code, table, _ = cli(predict_py, capsys, f"ckpt_path={run.ckpt}", *REVIEWS)
    assert code == 0
    _, explicit, _ = cli(predict_py, capsys, f"ckpt_path={run.ckpt}", "format=table", *REVIEWS)
    assert table == explicit == format_predictions(REVIEWS, predict(run.ckpt, REVIEWS)) + "\n"


@pytest.mark.parametrize("value", ["xml", "JSON", ""])
def test_an_unknown_format_is_one_line_before_the_checkpoint_is_read(predict_py, capsys, value, tmp_path):
    code, out, err = cli(predict_py, capsys, f"ckpt_path={tmp_path / 'missing.ckpt'}", f"format={value}", "a review")
    assert code == 2 and out == ""
    line = f"error: format={value}: choose format=table (for people)" if value else "error: format= is empty"
    assert err.startswith(line) and len(err.strip().splitlines()) == 1, err
