"""P(positive) for raw reviews from a trained checkpoint (the root `predict.py` calls this).

Needs nothing but the checkpoint: it carries the vocabulary and the preprocessing settings.

    predict(ckpt_path, reviews) -> list[float | None]   # None: no prediction (empty, or no known word)
    predict_with(*load_classifier(ckpt_path), reviews)  # the same, with the checkpoint loaded (and checked) first
    read_reviews_file(path)     -> list[str]            # one entry per line, empty lines included ("")
    format_predictions(reviews, probabilities)          # the table predict.py prints, one row per review
    format_predictions(..., style="json" | "csv")       # the same rows for scripts (predict.py format=...)

A review whose words are all outside the checkpoint's vocabulary (or an empty one) has an empty bag of
words: the model would still answer sigmoid(biases), a confident-looking constant that says nothing
about the review. predict() returns None for it and the table prints "-" and "[no known word]".
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import torch

from overfit.checkpoints.classifier import load_classifier
from overfit.data.text import encode
from overfit.errors import OverfitError, read_input_file

MAX_REVIEW_CHARS = 1_000_000  # IMDB's longest review has ~14k characters; a longer "review" is a wrong file
# Checked in this order: UTF-32's little-endian BOM starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Bidirectional controls reorder what follows them on screen: escaped too, so a row reads as it is stored.
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _check_size(text: str, where: str) -> None:
    if len(text) > MAX_REVIEW_CHARS:
        raise OverfitError(
            f"{where} is {len(text):,} characters, over the {MAX_REVIEW_CHARS:,} a review may have: "
            "give one review per line (lines end with \\n; a file with \\r-only line ends or none "
            "reads as one line)"
        )


def predict(ckpt_path: str | Path, reviews: Sequence[str]) -> list[float | None]:
    """P(positive) for each review, in order; None where the review has no word of the vocabulary
    (an empty review included): the model has nothing to go on there."""
    check_reviews(reviews)
    return predict_with(*load_classifier(ckpt_path), reviews)


def check_reviews(reviews: Sequence[str]) -> None:
    if not reviews:
        raise OverfitError("no reviews given: pass them as arguments or file=<path> with one review per line")
    for i, text in enumerate(reviews, 1):
        _check_size(text, f"review #{i}")


def predict_with(model: torch.nn.Module, state: dict, reviews: Sequence[str]) -> list[float | None]:
    """predict() with the (model, data state) of overfit.checkpoints.classifier.load_classifier, already loaded."""
    check_reviews(reviews)
    indices, offsets = encode(list(reviews), state["vocabulary"], **state["preprocessing"])
    counts = torch.diff(offsets, append=torch.tensor([indices.numel()])).tolist()  # known words per review
    with torch.inference_mode():
        probabilities = model.predict_step((indices, offsets)).tolist()
    return [p if n else None for p, n in zip(probabilities, counts)]


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (a BOM is dropped), or UTF-16/32 with a BOM; anything else refused naming the line."""
    encoding, start = "utf-8", 0
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, start = name, len(bom) if name == "utf-8" else 0  # utf-16/32 codecs consume their BOM
            break
    try:
        return data[start:].decode(encoding)
    except UnicodeDecodeError as err:
        before = data[start : start + err.start]
        if encoding == "utf-8":
            line_start = before.rfind(b"\n") + 1
            line, column = before.count(b"\n") + 1, len(before) - line_start + 1
            detail = f"byte 0x{data[start + err.start]:02x} at byte {column} of the line"
        else:  # a prefix of whole code units decodes: count its lines
            before = before[: len(before) - len(before) % (2 if encoding == "utf-16" else 4)]
            line, detail = before.decode(encoding, errors="replace").count("\n") + 1, err.reason
        label = "UTF-8" if encoding == "utf-8" else f"{encoding.upper()} (as its byte-order mark says)"
        raise OverfitError(
            f"file={path}: line {line} is not valid {label} ({detail}); "
            "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def read_reviews_file(path: str | Path) -> list[str]:
    """One review per line, every line kept in order (an empty or blank one as ""), so entry i is line i + 1.

    Lines end at "\\n" only ("\\r\\n" too); other separators (\\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028,
    \\u2029, a lone \\r) are part of the line. A final "\\n" does not start another line. Text is UTF-8
    (a BOM is dropped) or UTF-16/UTF-32 with a BOM. Refused in one line: a missing, non-regular or
    empty file, one without any review, undecodable bytes or NUL characters (named by line), a line
    over MAX_REVIEW_CHARS characters.
    """
    path = Path(path)
    data = read_input_file(path, f"file={path}", "a text file with one review per line")
    if not data:
        raise OverfitError(f"file={path}: is empty (0 bytes); give a text file with one review per line")
    text = _decode(data, path)
    lines = text.split("\n")
    if lines[-1] == "":  # the "\n" that ends the last line (or an empty file)
        lines.pop()
    reviews = []
    for number, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        if "\x00" in line:
            raise OverfitError(
                f"file={path}: line {number} holds NUL characters: UTF-16 without a byte-order mark, "
                "or not a text file? save it as UTF-8 text, one review per line"
            )
        _check_size(line, f"file={path}: line {number}")
        reviews.append(line.strip())
    if not any(reviews):
        raise OverfitError(
            f"file={path}: holds no review ({len(lines)} lines, all empty); give a text file with one review per line"
        )
    return reviews


def printable(text: str) -> str:
    """`text` on one screen line: control characters, line/paragraph separators and bidirectional
    controls are written as escapes (\\t, \\x0b, \\u2028, ...), so no review can break or reorder a row."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI or ch == "\ufeff"
        else ch
        for ch in text
    )


def prediction_rows(reviews: Sequence[str], probabilities: Sequence[float | None]) -> list[dict]:
    """{"n", "review", "p_positive", "label", "note"} per review, in order: what format=json|csv writes. Scripts
    get the whole review as given and the full-precision probability; None/null where there is no prediction,
    with the table's reason in note ("empty", "no known word")."""
    if len(reviews) != len(probabilities):
        raise ValueError(f"{len(reviews)} reviews but {len(probabilities)} probabilities")
    return [
        {
            "n": i,
            "review": text,
            "p_positive": p,
            "label": None if p is None else "positive" if p >= 0.5 else "negative",
            "note": ("no known word" if text.strip() else "empty") if p is None else None,
        }
        for i, (text, p) in enumerate(zip(reviews, probabilities), 1)
    ]


def format_predictions(
    reviews: Sequence[str], probabilities: Sequence[float | None], width: int = 70, style: str = "table"
) -> str:
    """One row per review, in order: its number (#, = the line number when reviews come from one file),
    P(positive) and label, or "-" and a marker where there is no prediction, and the review's start.
    style="json" or "csv": prediction_rows as a JSON list or as CSV with a header (empty cells for None)."""
    if style == "json":
        return json.dumps(prediction_rows(reviews, probabilities), ensure_ascii=False, indent=2)
    if style == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, ["n", "p_positive", "label", "note", "review"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(prediction_rows(reviews, probabilities))
        return out.getvalue()
    if len(reviews) != len(probabilities):
        raise ValueError(f"{len(reviews)} reviews but {len(probabilities)} probabilities")
    w = len(str(len(reviews)))
    lines = [f"{'#':>{w}}  P(pos)  label     review"]
    for i, (text, p) in enumerate(zip(reviews, probabilities), 1):
        short = printable(text.strip())
        short = short if len(short) <= width else short[: width - 3] + "..."
        if p is None:
            marker = "[empty]" if not text.strip() else "[no known word]"
            lines.append(f"{i:>{w}}  {'-':>6}  {'-':<8}  {marker} {short}".rstrip())
        else:
            lines.append(f"{i:>{w}}  {p:6.3f}  {'positive' if p >= 0.5 else 'negative'}  {short}")
    return "\n".join(lines)
