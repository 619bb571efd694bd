"""Factorization faults: a CSV is read exactly or refused in one line; a diverging run stops in one line, exit 2."""

import codecs
import math
import sys
from pathlib import Path

import forked
import lightning as L
import pytest
import torch
from test_factorization import recorded_trainer

from overfit.data import csv_matrix
from overfit.data.matrix import MatrixDataModule, load_csv_matrix
from overfit.errors import NonFiniteLossError, OverfitError
from overfit.models.factorization import LowRankFactorization

REPO = Path(__file__).resolve().parents[1]
EXPECTED = [[1.5, -2.0, 3.0], [4.0, 0.1, 6e-3], [7.0, 8.0, 123456789012345.0]]
ROWS = "1.5,-2,3\n4,0.1,6e-3\n7,8,123456789012345\n"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as train() does for a model this small
    yield
    torch.set_num_threads(before)


def write_bytes(tmp_path, data: bytes) -> str:
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    return str(path)


def refused(make, *words) -> str:
    with pytest.raises(OverfitError) as err:
        make()
    message = str(err.value)
    assert "\n" not in message and "\r" not in message, message
    for word in words:
        assert word in message, message
    return message


# --- CSV read exactly -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(ROWS.encode(), id="utf8"),
        pytest.param(codecs.BOM_UTF8 + ROWS.encode(), id="utf8-bom-numeric-first-row"),  # not taken for a header
        pytest.param(codecs.BOM_UTF8 + ("a,b,c\n" + ROWS).encode(), id="utf8-bom-header"),
        pytest.param(("a,b,c\n" + ROWS).encode("utf-16"), id="utf16-bom"),  # Python writes its native byte order
        pytest.param(codecs.BOM_UTF16_LE + ROWS.encode("utf-16-le"), id="utf16le-bom"),
        pytest.param(codecs.BOM_UTF16_BE + ROWS.encode("utf-16-be"), id="utf16be-bom"),
        pytest.param(ROWS.encode("utf-32"), id="utf32-bom"),
        pytest.param(ROWS.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(("\n" + ROWS.replace("\n", "\n\n") + "  \n").encode(), id="blank-lines"),
        pytest.param(ROWS.replace(",", ", ").encode(), id="spaces-after-commas"),
        pytest.param(b'"x","y","z"\n"1.5","-2","3"\n4,0.1,6e-3\n7,8,123456789012345\n', id="quoted"),
        pytest.param(",b,c\n" + ROWS, id="header-with-blank-name"),
        pytest.param(ROWS.replace(",", "\u00a0,"), id="no-break-spaces"),  # the cell-by-cell path, not the fast one
    ],
)
def test_csv_is_read_exactly(tmp_path, data):
    data = data.encode() if isinstance(data, str) else data
    a = load_csv_matrix(write_bytes(tmp_path, data))
    assert a.dtype == torch.float64 and a.tolist() == EXPECTED  # exact: == float(text) for every cell


def test_largest_allowed_magnitude_is_accepted(tmp_path):
    a = load_csv_matrix(write_bytes(tmp_path, b"1e15,-1e15\n2,3\n"))
    assert a.tolist() == [[1e15, -1e15], [2.0, 3.0]]


# --- CSV refused in one line ------------------------------------------------------------------------------------

BAD_CSV = [
    # (id, bytes, words the one-line message must hold besides data.path='...')
    ("empty", b"", ["is empty"]),
    ("blank-lines-only", b"\n  \n\n", ["is empty"]),
    ("header-only", b"a,b,c\n", ["only a header row (line 1)"]),
    ("non-numeric", b"1,2,3\n4,five,6\n7,8,9\n", ["line 2, column 2", "'five'"]),
    ("empty-cell", b"1,2,3\n4,,6\n7,8,9\n", ["line 2, column 2", "empty cell"]),
    ("empty-cell-first-row", b"1,,3\n4,5,6\n", ["line 1, column 2", "empty cell"]),  # not dropped as a header
    ("typo-first-row", b"1,2,3x\n4,5,6\n", ["line 1, column 3", "'3x'"]),  # not dropped as a header
    ("ragged", b"1,2,3\n4,5\n7,8,9\n", ["line 2 has 2 columns"]),
    ("header-width", b"a,b\n1,2,3\n4,5,6\n", ["header (line 1) has 2 columns", "line 2 3"]),
    ("one-row", b"1,2,3\n", ["1x3", "at least 2 rows"]),
    ("nan", b"a,b\n1,2\n3,nan\n", ["line 3, column 2", "'nan'", "not a finite number"]),  # file line, not matrix row
    ("NaN", b"1,2\nNaN,4\n", ["line 2, column 1", "'NaN'"]),
    ("inf", b"1,2\n3,inf\n", ["line 2, column 2", "'inf'"]),
    ("-Infinity", b"1,2\n-Infinity,4\n", ["line 2, column 1", "'-Infinity'"]),
    ("1e400", b"1,2\n3,1e400\n", ["line 2, column 2", "'1e400'"]),  # float64 overflow: would be inf
    ("1e300", b"1,2\n1e300,4\n", ["line 2, column 1", "'1e300'", "1e+15"]),  # finite float64, inf in float32
    ("absurd", b"1,2\n3,-2e15\n", ["line 2, column 2", "'-2e15'", "1e+15", "rescale"]),
    ("underscore", b"1,2\n3,1_000\n", ["line 2, column 2", "'1_000'"]),  # float() would read 1000
    ("arabic-digits", "1,2\n3,\u0661\u0662\n".encode(), ["line 2, column 2", "'\u0661\u0662'"]),  # float(): 12
    ("semicolons", b"1;2;3\n4;5;6\n", ["line 2, column 1", "separator must be a comma"]),
    ("bom-mid-file", b"1,2\n" + codecs.BOM_UTF8 + b"3,4\n", ["line 2, column 1", "'\\ufeff3'"]),  # cat a.csv b.csv
    ("unclosed-quote", b'1,2\n"3,4\n5,6\n', ["line 2 opens a quoted cell"]),
    (
        "latin1-header",
        "l\xe4nge,b\n1,2\n3,4\n".encode("latin-1"),
        ["line 1 is not UTF-8", "0xe4", "save the file as UTF-8"],
    ),
    ("cp1252-line-3", b"a,b\n1,2\n3,4\x80\n", ["line 3 is not UTF-8", "0x80", "UTF-8"]),
    ("utf8-bom-then-bad-byte", codecs.BOM_UTF8 + b"1,2\n3,\xff\n", ["line 2 is not UTF-8", "0xff"]),
    ("utf16-without-bom", "1,2\n3,4\n".encode("utf-16-le"), ["line 1 holds NUL bytes", "save it as UTF-8"]),
    ("utf16-bom-invalid", codecs.BOM_UTF16_LE + b"1\x00,\x002", ["UTF-16 byte-order mark", "save it as UTF-8"]),
    ("long-cell", b'1,2\n"' + b"x" * 500 + b'",4\n', ["line 2, column 1", "..."]),
]


@pytest.mark.parametrize("data,words", [pytest.param(d, w, id=i) for i, d, w in BAD_CSV])
def test_bad_csv_is_refused_in_one_line(tmp_path, data, words):
    path = write_bytes(tmp_path, data)
    message = refused(lambda: MatrixDataModule(path=path).setup("fit"), f"data.path={path!r}", *words)
    assert len(message) < 400  # a cell is shown cut short, never the rest of the file


def test_sum_of_squares_beyond_float32_is_refused(tmp_path, monkeypatch):
    """Entries each allowed, but together the first float32 loss (about ||A||^2) would already be inf."""
    monkeypatch.setattr(csv_matrix, "MAX_ABS", 1e30)  # else it takes ~1e8 entries of 1e15
    path = write_bytes(tmp_path, b"1e19,1e19,1e19\n1e19,-1e19,1e19\n1e19,1e19,-1e19\n")
    refused(
        lambda: MatrixDataModule(path=path, center=False).setup("fit"),
        f"data.path={path!r}",
        "sum of squares",
        "rescale",
    )


def test_unreadable_or_directory_csv(tmp_path, monkeypatch):
    refused(lambda: load_csv_matrix(tmp_path), f"data.path={str(tmp_path)!r}", "is a directory")
    path = write_bytes(tmp_path, b"1,2\n3,4\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod 0 would not stop root
    refused(lambda: load_csv_matrix(path), f"data.path={path!r}", "cannot be read (Permission denied)")


# --- non-finite loss ----------------------------------------------------------------------------------------------


def fit_raw_iris(lr, steps=1000, poison=False):
    """Iris uncentered (its largest singular value 96, centered 25): at lr 0.01 gradient descent diverges."""
    L.seed_everything(0, verbose=False)
    dm = MatrixDataModule(center=False)
    dm.setup("fit")
    model = LowRankFactorization(rank=2, optimizer=lambda params: torch.optim.SGD(params, lr=lr), **dm.model_kwargs)
    if poison:
        with torch.no_grad():
            model.U[0, 0] = float("nan")
    trainer, recorder = recorded_trainer(steps)
    return model, trainer, recorder, dm


@pytest.mark.parametrize("poison,value,step", [(False, "inf", 7), (True, "nan", 0)])
def test_non_finite_loss_stops_naming_step_and_smaller_lr(poison, value, step):
    model, trainer, recorder, dm = fit_raw_iris(lr=0.01, poison=poison)
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(model, datamodule=dm)
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, OverfitError)
    assert f"train/loss became {value} at step {step} " in message
    assert "model.optimizer.lr=0.01:" in message and "e.g. model.optimizer.lr=0.001" in message
    assert model.global_step == step  # stopped before the update: no inf/nan step taken
    if not poison:
        assert model.U.isfinite().all() and model.V.isfinite().all()
    # Every step up to the failure reached the loggers, the non-finite one last (TensorBoard shows the blow-up).
    steps = [s for s, m in recorder.rows if "train/loss" in m]
    assert steps == list(range(step + 1))
    assert not math.isfinite(recorder.rows[-1][1]["train/loss"])


def test_the_suggested_lr_trains():
    model, trainer, recorder, dm = fit_raw_iris(lr=0.001)
    trainer.fit(model, datamodule=dm)
    assert 0 <= model.last["train/gap"] < 1e-3 * model.optimal_loss


# --- end to end: python train.py ... ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", ["diverges", "bad-csv"])
def test_cli_exits_2_with_one_error_line(tmp_path, case):
    args = ["data.center=false"]  # the command: diverges at the default lr 0.01
    if case == "bad-csv":
        csv_path = tmp_path / "m.csv"
        csv_path.write_bytes("1,2\n3,4\n5,6\n".encode("utf-16-le"))  # Windows' "Unicode" without a BOM
        args = [f"data.path={csv_path}"]
    result = forked.run(  # a process of its own, forked from one that imported torch and co. once
        [sys.executable, "train.py", "experiment=factorization", f"paths.log_dir={tmp_path / 'logs'}", *args],
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    if case == "diverges":
        assert "at step 7 " in errors[0] and "model.optimizer.lr=0.001" in errors[0]
        assert "loss nan" not in result.stdout and "loss inf" not in result.stdout  # no end-of-run summary
    else:
        assert f"data.path='{csv_path}'" in errors[0] and "save it as UTF-8" in errors[0]
