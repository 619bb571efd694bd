"""A numeric CSV read strictly into a float64 tensor: every cell a plain finite number, or one error line.

    A = load_csv_matrix("my.csv")   # an optional header row is skipped; BOMs (UTF-8/16/32) are honoured

Read as bytes and decoded here (not by csv/numpy) so that a bad byte, a NUL, a ragged row, "nan", "1e400" or
"1_000" each get one line naming the file, the line and the column, never a silently wrong matrix.
"""

import codecs
import csv
import io
import math
import re
from pathlib import Path

import torch

from overfit.errors import OverfitError, read_input_file

# The largest |entry| a CSV may hold. Two reasons: every integer up to 1e15 (< 2**53) is read exactly into float64;
# and the model trains in float32 on the sum of squares, whose first value is about ||A||^2 = sum of a_ij^2. Past
# float32's max (3.4e38) that is inf at step 0 whatever the learning rate; with every a_ij^2 <= 1e30 it stays below
# for any matrix under ~1e8 entries (setup() checks the sum itself). A larger but finite loss is the learning rate's
# business: the model stops with NonFiniteLossError and a smaller model.optimizer.lr.
MAX_ABS = 1e15
# float32's largest value: the training loss, a float32 sum of squares, must stay below it.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)

# A plain decimal number, as numpy and pandas write it: ASCII digits only. float() would also take "1_000",
# non-ASCII digits ("١٢") and surrounding Unicode whitespace, and turn "nan" / "inf" / "1e400" into non-finite values.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# The fast path's test for a whole row joined by commas: nothing but what plain numbers are written with.
_PLAIN_ROW = re.compile(r"[0-9eE+\-. \t,]*")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_BOMS = {  # UTF-32 first: its little-endian BOM starts with UTF-16's
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def load_csv_matrix(path: str | Path) -> torch.Tensor:
    """Read a numeric CSV into a float64 (rows x cols) tensor, exactly or not at all (OverfitError, one line).

    UTF-8 (a byte-order mark is dropped) or UTF-16/32 with a byte-order mark. A first row of names only is a header.
    Every other cell must be a finite decimal number with |x| <= MAX_ABS.
    """
    path = Path(path)
    name = f"data.path={str(path)!r}"
    data = read_input_file(path, name, "the path of a numeric CSV file")
    text = _decode(data, name)
    reader, rows, end = csv.reader(io.StringIO(text, newline="")), [], 0
    try:
        for row in reader:  # (the line a row starts on, its cells); blank lines skipped
            start, end = end + 1, reader.line_num
            if start != end:  # a quoted cell ran over a line break: a quote left open swallows the lines after it
                raise OverfitError(
                    f"{name}: line {start} opens a quoted cell that runs over {end - start + 1} lines: close the quote "
                    "(a CSV of numbers has no line breaks inside cells)"
                )
            if any(cell.strip() for cell in row):
                rows.append((start, row))
    except csv.Error as err:
        raise OverfitError(f"{name}: line {reader.line_num} is not valid CSV ({err}): save it as plain CSV") from None
    if not rows:
        raise OverfitError(f"{name} is empty: pass a CSV with at least 2 rows and 2 columns of numbers")
    header = None
    if not any(_kind(cell) in ("number", "non-finite") for cell in rows[0][1]):  # names only (blank names allowed)
        header, rows = rows[0], rows[1:]
    if not rows:
        raise OverfitError(
            f"{name} holds only a header row (line {header[0]}), no rows of numbers: add the data below it"
        )
    width = len(rows[0][1])
    if header is not None and len(header[1]) != width:
        raise OverfitError(
            f"{name}: the header (line {header[0]}) has {len(header[1])} columns, line {rows[0][0]} {width}: "
            "give every column one name, or drop the header"
        )
    values = []
    for line, row in rows:
        if len(row) != width:
            raise OverfitError(
                f"{name}: line {line} has {len(row)} columns, line {rows[0][0]} {width}: make every row the same length"
            )
        values.append(_fast_row(row) or _checked_row(name, line, row))
    return torch.tensor(values, dtype=torch.float64)


def _fast_row(row: list[str]) -> list[float] | None:
    """The row's values when it is plainly fine (one regex per row, float() per cell), else None."""
    if not _PLAIN_ROW.fullmatch(",".join(row)):
        return None
    try:
        row = [float(cell) for cell in row]
    except ValueError:  # "", ".", "1e", "1 2", ...: within the characters, not a number
        return None
    # float() of these characters is a plain decimal number (no nan/inf/"1_000"), or inf when it overflows
    return row if max(map(abs, row)) <= MAX_ABS else None


def _checked_row(name: str, line: int, row: list[str]) -> list[float]:
    """The row's values, cell by cell; the first bad cell raises, named by line and column."""
    values = []
    for j, cell in enumerate(row):
        kind = _kind(cell)
        where = f"{name}: line {line}, column {j + 1}"
        if kind == "blank":
            raise OverfitError(f"{where} holds an empty cell: fill or drop the missing values first")
        if kind == "non-finite":
            raise OverfitError(f"{where} holds {_show(cell)}, not a finite number: fill or drop it first")
        if kind == "text":
            hint = " (the separator must be a comma)" if any(c in cell for c in ";\t|") else ""
            raise OverfitError(
                f"{where} holds the non-numeric value {_show(cell)}{hint}: the CSV must contain plain decimal "
                "numbers only (at most one header row, of names only)"
            )
        x = float(cell)
        if not math.isfinite(x) or abs(x) > MAX_ABS:  # inf: "1e400" overflows float64
            raise OverfitError(
                f"{where} holds {_show(cell)}, beyond |x| <= {MAX_ABS:g} (the float32 training loss would "
                "overflow): rescale the data, e.g. divide that column by a power of 10"
            )
        values.append(x)
    return values


def _decode(data: bytes, name: str) -> str:
    """The file's text: UTF-8 (a BOM is dropped), or UTF-16/32 with a BOM; anything else is refused in one line."""
    encoding = next((enc for bom, enc in _BOMS.items() if data.startswith(bom)), None)
    if encoding is not None:  # the codec reads the BOM for the byte order and drops it
        try:
            return _no_nul(data.decode(encoding), name)
        except UnicodeDecodeError:
            raise OverfitError(
                f"{name} starts with a {encoding} byte-order mark but is not valid {encoding}: save it as UTF-8"
            ) from None
    data = data.removeprefix(codecs.BOM_UTF8)  # Excel's "CSV UTF-8": else the first cell would start with U+FEFF
    try:
        return _no_nul(data.decode("utf-8"), name)
    except UnicodeDecodeError as err:
        line = len((data[: err.start] + b"x").splitlines())
        raise OverfitError(
            f"{name}: line {line} is not UTF-8 (byte 0x{data[err.start]:02x}): save the file as UTF-8"
        ) from None


def _no_nul(text: str, name: str) -> str:
    if "\x00" in text:  # valid UTF-8, but a CSV never holds NUL: UTF-16/32 without a BOM, or not a text file
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise OverfitError(
            f"{name}: line {line} holds NUL bytes (UTF-16 without a byte-order mark, or not a text file): "
            "save it as UTF-8"
        )
    return text


def _kind(cell: str) -> str:
    cell = cell.strip()
    if not cell:
        return "blank"
    if _NUMBER.fullmatch(cell):
        return "number"
    return "non-finite" if _NON_FINITE.fullmatch(cell) else "text"


def _show(cell: str, limit: int = 40) -> str:
    """A cell for a one-line message: repr (escapes newlines), cut to `limit` characters."""
    return repr(cell) if len(cell) <= limit else repr(cell[:limit]) + "..."
