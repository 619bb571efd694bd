"""Faulty review input to predict: review files in every encoding and line ending (one review per line, or one
line naming the file, the line and the fix), reviews with no known word (marked, not scored), oversized ones,
and table rows that no separator character can break. The model is conftest's `run` fixture."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from overfit.errors import OverfitError
from overfit.predict import MAX_REVIEW_CHARS, format_predictions, predict, read_reviews_file

SEPARATORS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\r"


@pytest.mark.parametrize(
    "data,expected",
    [
        pytest.param(
            f"one{SEPARATORS}still one\ntwo\x85 \u2028same\nthird".encode(),
            [f"one{SEPARATORS}still one", "two\x85 \u2028same", "third"],
            id="unicode-separators",
        ),
        pytest.param(b"a\r\nb\r\n", ["a", "b"], id="crlf"),
        pytest.param(b"a\rb\n", ["a\rb"], id="lone-cr"),
        pytest.param(b"a\n\n  \nb\n", ["a", "", "", "b"], id="empty-lines-kept"),
        pytest.param(b"\nlast", ["", "last"], id="leading-empty-no-final-newline"),
        pytest.param(codecs.BOM_UTF8 + "h\u00e9llo\nx\n".encode(), ["h\u00e9llo", "x"], id="utf8-bom"),
        pytest.param(
            "h\u00e9llo\nw\u00f6rld\u2028!\n".encode("utf-16"), ["h\u00e9llo", "w\u00f6rld\u2028!"], id="utf16"
        ),
        pytest.param(codecs.BOM_UTF16_BE + "a\nb".encode("utf-16-be"), ["a", "b"], id="utf16-be"),
        pytest.param("a\n\U0001f600\n".encode("utf-32"), ["a", "\U0001f600"], id="utf32"),
    ],
)
def test_read_reviews_file_one_entry_per_line(tmp_path, data, expected):
    path = tmp_path / "reviews.txt"
    path.write_bytes(data)
    assert read_reviews_file(path) == expected


BAD_FILES = {
    "invalid-utf8": (b"fine\nalso fine\ncaf\xe9 latin-1\n", ["line 3 is not valid UTF-8", "0xe9 at byte 4", "iconv"]),
    "invalid-utf16": (
        codecs.BOM_UTF16_LE + "ok\nbad".encode("utf-16-le") + b"\x00\xdc",
        ["line 2 is not valid UTF-16"],
    ),
    "utf16-no-bom": ("good\nfilm\n".encode("utf-16-le"), ["line 1 holds NUL characters", "UTF-16"]),
    "oversized-line": (
        b"ok\n" + b"x" * (MAX_REVIEW_CHARS + 1) + b"\n",
        [f"line 2 is {MAX_REVIEW_CHARS + 1:,} characters", "one review per line"],
    ),
    "empty": (b"", ["is empty (0 bytes)"]),
    "blank-lines": (b"\n \r\n\t\n", ["holds no review (3 lines, all empty)"]),
    "directory": (None, ["is a directory"]),
    "missing": ("absent", ["does not exist"]),
}


def make_bad_file(case: str, folder: Path) -> Path:
    data = BAD_FILES[case][0]
    path = folder / f"{case}.txt"
    if data is None:
        path.mkdir()
    elif data != "absent":
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", BAD_FILES)
def test_read_reviews_file_refuses_in_one_line(tmp_path, case):
    path = make_bad_file(case, tmp_path)
    with pytest.raises(OverfitError) as err:
        read_reviews_file(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"file={path}: ")
    assert all(word in message for word in BAD_FILES[case][1]), message


# ---- predictions ---------------------------------------------------------------------------------------------------
def test_no_known_word_gives_none_not_a_probability(run):
    reviews = ["loved it, a masterpiece", "xyzzy qwerty!!", "", "awful, terrible waste", "   "]
    got = predict(run.ckpt, reviews)
    assert got[1] is None and got[2] is None and got[4] is None
    assert 0.5 < got[0] < 1 and 0 < got[3] < 0.5
    table = format_predictions(reviews, got).split("\n")
    assert len(table) == len(reviews) + 1
    assert " ".join(table[2].split()) == "2 - - [no known word] xyzzy qwerty!!"
    assert " ".join(table[3].split()) == "3 - - [empty]"
    assert table[1].startswith("1   0.") and "positive  loved it" in table[1]


def test_oversized_review_is_refused(run):
    with pytest.raises(OverfitError, match=rf"review #2 is {MAX_REVIEW_CHARS + 1:,} characters") as err:
        predict(run.ckpt, ["fine", "a" * (MAX_REVIEW_CHARS + 1)])
    assert "\n" not in str(err.value)
    assert len(predict(run.ckpt, ["great " * (MAX_REVIEW_CHARS // 6)])) == 1  # at the limit: scored


def test_table_rows_never_break_on_separators():
    reviews = [f"good{SEPARATORS}\t\x00 film", "bidi \u202eevil\u202c and \ufeff", "plain"]
    table = format_predictions(reviews, [0.9, 0.1, None])
    assert len(table.splitlines()) == len(reviews) + 1  # splitlines() splits on every separator there is
    assert "good\\x0b\\x0c\\x1c\\x1d\\x1e\\x85\\u2028\\u2029\\r\\t\\x00 film" in table
    assert "bidi \\u202eevil\\u202c and \\ufeff" in table
