"""Faulty inputs to eval.py and predict.py: every bad checkpoint, review file and review is refused in one
line (or, for a review with no known word, marked instead of scored), before any long work.

One tiny IMDB model and one factorization model are trained once for the module. The scripts run as real
processes: most cases in one driver process that forks a child per case (each child runs the script as
`__main__` with its own exit code and stderr; the fork skips the ~4 s import of torch per case), and a
few in fresh `python <script>` processes, which also show anything printed at import time.
"""

from __future__ import annotations

import codecs
import copy
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO, compose_train, tiny_overrides

from overfit.checkpoints import check_resumable, check_weights, load_checkpoint, read_checkpoint
from overfit.errors import OverfitError
from overfit.evaluate import evaluate
from overfit.models.mlp import BagOfWordsMLP
from overfit.predict import MAX_REVIEW_CHARS, format_predictions, predict, read_reviews_file
from overfit.train import train

VOCAB = 40


class Opaque:
    """Pickled by reference: a torch file holding it is refused by weights_only loading."""


@pytest.fixture(scope="module")
def run(tiny_archive, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    cfg = compose_train(
        tiny_overrides(tiny_archive, tmp, epochs=3) + [f"data.vocab_size={VOCAB}", "model.optimizer.lr=0.01"]
    )
    train(cfg)
    fact = compose_train(
        [
            "experiment=factorization",
            f"paths.log_dir={tmp / 'f' / 'logs'}",
            f"paths.output_dir={tmp / 'f' / 'run'}",
            "trainer.max_steps=3",
            "trainer.enable_progress_bar=false",
        ]
    )
    train(fact)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    return SimpleNamespace(
        ckpt=ckpt,
        raw=torch.load(ckpt, weights_only=True),
        out=Path(cfg.paths.output_dir),
        factorization=tmp / "f" / "run" / "checkpoints" / "last.ckpt",
        archive=tiny_archive,
        tmp=tmp,
    )


# ---- bad checkpoints ----------------------------------------------------------------------------------------------
def _bytes(data):
    return lambda run, path: path.write_bytes(data(run) if callable(data) else data)


def _saved(obj):
    return lambda run, path: torch.save(obj(run) if callable(obj) else obj, path)


def _edited(edit):
    def make(run, path):
        checkpoint = copy.deepcopy(run.raw)
        edit(checkpoint)
        torch.save(checkpoint, path)

    return make


def _set(*keys_value):
    *keys, value = keys_value

    def edit(checkpoint):
        target = checkpoint
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value(target[keys[-1]]) if callable(value) else value

    return _edited(edit)


def _poison(name, index, value):
    return _edited(lambda c: c["state_dict"][name].view(-1).__setitem__(index, value))


# case: (how to make the file at `path` (None: leave it absent), words the one-line message must hold)
BAD_CHECKPOINTS = {
    "empty": (_bytes(b""), ["is empty (0 bytes)"]),
    "truncated": (_bytes(lambda run: run.ckpt.read_bytes()[: run.ckpt.stat().st_size // 2]), ["damaged or incomplete"]),
    "garbage": (_bytes(random.Random(0).randbytes(4096)), ["is not a torch checkpoint"]),
    "text": (_bytes(b"epoch=3 acc=0.88\n"), ["is not a torch checkpoint"]),
    "missing": (None, ["no such file"]),
    "dangling_link": (
        lambda run, path: path.symlink_to(path.with_name("gone.ckpt")),
        ["gone.ckpt, which no longer exists"],
    ),
    "directory": ("dir", ["is a directory", "checkpoints/last.ckpt"]),
    "plain_dict": (_saved({"a": 1}), ["not a Lightning checkpoint", "it holds a"]),
    "list": (_saved([1, 2]), ["holds a list, not a Lightning checkpoint"]),
    "bare_state_dict": (_saved(lambda run: run.raw["state_dict"]), ["bare state_dict"]),
    "python_object": (_saved(Opaque()), ["Python objects (test_faults_checkpoints.Opaque)", "could run code"]),
    "factorization": (
        lambda run, path: shutil.copy(run.factorization, path),
        ["'factorization' model (weights U, V)", "not an IMDB classifier"],
    ),
    "other_weights": (
        _set("state_dict", {"U": torch.zeros(3, 2), "V": torch.zeros(2, 4)}),
        ["not this model's weights", "missing input.bias", "unexpected U, V", "another model"],
    ),
    "shrunk": (
        _set("state_dict", "input.bag.weight", lambda w: w[:, :8].clone()),
        ["do not match its own hyper_parameters", f"input.bag.weight is {VOCAB}x8", f"give {VOCAB}x16"],
    ),
    "shrunk_head": (_set("state_dict", "head.5.bias", torch.zeros(0)), ["head.5.bias is 0", "give 1"]),
    "nan": (_poison("head.2.weight", 0, float("nan")), ["head.2.weight holds 1 nan/inf of 256 values", "diverged"]),
    "inf": (_poison("input.bias", 3, float("-inf")), ["input.bias holds 1 nan/inf of 16 values"]),
    "vocab_size": (_set("hyper_parameters", "vocab_size", VOCAB + 1), [f"vocab_size={VOCAB + 1}", f"{VOCAB} words"]),
    "hparams": (_set("hyper_parameters", "hidden", [0]), ["do not build the IMDB classifier", "model.hidden=[0]"]),
    "preprocessing": (_set("IMDBDataModule", "preprocessing", "archive", "/etc"), ["malformed"]),
    "non_tensor": (_set("state_dict", "input.bias", [0.0] * 16), ["not tensors (input.bias)"]),
}


# eval.py as a process for these (each costs ~0.4 s of Hydra composing); predict.py for all. Both scripts call the
# same overfit.checkpoints.load_classifier, and evaluate() is called directly for others below.
EVAL_CLI_CASES = ["empty", "truncated", "garbage", "directory", "plain_dict", "factorization", "shrunk", "nan"]


def make_bad(run, case: str, folder: Path) -> Path:
    make = BAD_CHECKPOINTS[case][0]
    if make == "dir":
        return run.out
    path = folder / f"{case}.ckpt"
    if make is not None:
        make(run, path)
    return path


def assert_one_line(message: str, path: Path, words: list[str]) -> None:
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"ckpt_path={path}: "), message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("case", BAD_CHECKPOINTS)
def test_load_checkpoint_refuses_in_one_line(run, tmp_path, case):
    path = make_bad(run, case, tmp_path)
    with pytest.raises(OverfitError) as err:
        load_checkpoint(path)
    assert_one_line(str(err.value), path, BAD_CHECKPOINTS[case][1])


def test_good_checkpoint_loads(run):
    assert load_checkpoint(run.ckpt)["hyper_parameters"]["vocab_size"] == VOCAB


@pytest.mark.parametrize("case", sorted(set(BAD_CHECKPOINTS) - set(EVAL_CLI_CASES)))
def test_evaluate_refuses_before_reading_the_data(run, tmp_path, case):
    path = make_bad(run, case, tmp_path)
    cfg = compose_train(
        [
            f"ckpt_path={path}",
            f"data.archive={tmp_path / 'no_archive.tar.gz'}",
            "data.sha256=null",
            f"paths.data_dir={tmp_path / 'data'}",
            f"paths.output_dir={tmp_path / 'eval'}",
        ],
        config_name="eval",
    )
    with pytest.raises(OverfitError) as err:  # the archive does not exist: reading it first would say so
        evaluate(cfg)
    assert_one_line(str(err.value), path, BAD_CHECKPOINTS[case][1])
    assert not (tmp_path / "data").exists()


# ---- the API train.py calls for ckpt_path resume checks -----------------------------------------------------------
def test_check_resumable(run, tmp_path):
    model = BagOfWordsMLP(vocab_size=VOCAB, hidden=[16, 16])
    assert check_resumable(run.ckpt, model)["epoch"] == 2

    def refused(path, model, *words):
        with pytest.raises(OverfitError) as err:
            check_resumable(path, model)
        assert_one_line(str(err.value), path, list(words))

    refused(
        run.ckpt,
        BagOfWordsMLP(vocab_size=VOCAB, hidden=[32, 32]),
        "input.bias is 16 in the checkpoint but 32 in this model",
        "hidden': [16, 16]",
    )
    refused(run.ckpt, BagOfWordsMLP(vocab_size=VOCAB + 5, hidden=[16, 16]), f"is {VOCAB}x16 in the checkpoint")
    refused(run.factorization, model, "'factorization' model", "another model")
    for case in ("empty", "truncated", "plain_dict", "nan"):
        path = make_bad(run, case, tmp_path)
        refused(path, model, *BAD_CHECKPOINTS[case][1])

    # A nan in the optimizer's state: fine to predict from, not to resume from.
    poisoned = copy.deepcopy(run.raw)
    poisoned["optimizer_states"][0]["state"][1]["square_avg"].view(-1)[0] = float("inf")
    torch.save(poisoned, tmp_path / "opt.ckpt")
    load_checkpoint(tmp_path / "opt.ckpt")
    refused(tmp_path / "opt.ckpt", model, "optimizer_states[0].state.1.square_avg holds 1 nan/inf")

    weights_only = {k: v for k, v in run.raw.items() if k not in ("loops", "optimizer_states")}
    torch.save(weights_only, tmp_path / "weights.ckpt")
    refused(tmp_path / "weights.ckpt", model, "no training state", "loops, optimizer_states")

    # read once early (before the data work), check against the model later
    checkpoint = read_checkpoint(run.ckpt)
    with torch.device("meta"):  # only names and shapes are read: a model on the meta device will do
        check_weights(checkpoint, BagOfWordsMLP(vocab_size=VOCAB, hidden=[16, 16]), run.ckpt)
    assert check_resumable(run.ckpt, model, checkpoint=checkpoint) is checkpoint


# ---- review files ------------------------------------------------------------------------------------------------
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
    "missing": ("absent", ["no such file"]),
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


# ---- the scripts, as processes ---------------------------------------------------------------------------------------
DRIVER = r"""
import io, json, os, runpy, sys
import torch, lightning, hydra, overfit.checkpoints, overfit.predict, overfit.evaluate, overfit.cli  # not per fork
from hydra.core.plugins import Plugins; Plugins.instance()  # Hydra's plugin scan, also once
cases, results = json.load(open(sys.argv[1])), []
for i, (script, args) in enumerate(cases):
    out, err = f"{sys.argv[1]}.{i}.out", f"{sys.argv[1]}.{i}.err"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name in ((1, out), (2, err)):
                os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.argv = [script, *args]
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            import traceback; traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    results.append({"rc": os.waitstatus_to_exitcode(status), "stdout": open(out).read(), "stderr": open(err).read()})
json.dump(results, open(sys.argv[1] + ".json", "w"))
"""


def _popen(args, tmp: Path, name: str):
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        text=True,
        stdout=open(tmp / f"{name}.out", "w"),
        stderr=open(tmp / f"{name}.err", "w"),
    )


@pytest.fixture(scope="module")
def cli(run):
    """{(script, case): {"rc", "stdout", "stderr"}} for every case; all processes started at once."""
    tmp = run.tmp / "cli"
    tmp.mkdir()
    eval_args = [
        f"data.archive={tmp / 'no_archive.tar.gz'}",
        "data.sha256=null",
        f"paths.data_dir={tmp / 'data'}",
        f"paths.log_dir={tmp / 'logs'}",
    ]
    keys, cases = [], []
    for case in BAD_CHECKPOINTS:
        path = str(make_bad(run, case, tmp))
        keys.append(("predict.py", case))
        cases.append(["predict.py", [f"ckpt_path={path}", "a review"]])
        if case in EVAL_CLI_CASES:
            keys.append(("eval.py", case))
            cases.append(["eval.py", [f"ckpt_path={path}", *eval_args]])
    for case in BAD_FILES:
        keys.append(("predict.py", f"file:{case}"))
        cases.append(["predict.py", [f"ckpt_path={run.ckpt}", f"file={make_bad_file(case, tmp)}"]])
    good = tmp / "good.txt"
    good.write_bytes(codecs.BOM_UTF8 + "Loved,\u2028masterpiece!\r\n\nxyzzy plugh\nawful\x85terrible waste\n".encode())
    keys += [("predict.py", "file:good"), ("eval.py", "no-ckpt_path")]
    cases += [["predict.py", [f"ckpt_path={run.ckpt}", f"file={good}"]], ["eval.py", eval_args]]
    (tmp / "cases.json").write_text(json.dumps(cases))

    fresh = {
        ("predict.py", "fresh:truncated"): ["predict.py", f"ckpt_path={tmp / 'truncated.ckpt'}", "a review"],
        ("eval.py", "fresh:factorization"): ["eval.py", f"ckpt_path={tmp / 'factorization.ckpt'}", *eval_args],
    }
    procs = {key: _popen(args, tmp, str(i)) for i, (key, args) in enumerate(fresh.items())}
    driver = _popen(["-c", DRIVER, str(tmp / "cases.json")], tmp, "driver")
    results = {}
    for i, (key, proc) in enumerate(procs.items()):
        results[key] = {
            "rc": proc.wait(timeout=120),
            "stdout": (tmp / f"{i}.out").read_text(),
            "stderr": (tmp / f"{i}.err").read_text(),
        }
    assert driver.wait(timeout=180) == 0, (tmp / "driver.err").read_text()
    results.update(zip(keys, json.loads((tmp / "cases.json.json").read_text())))
    return results


def assert_cli_error(result: dict, prefix: str, words: list[str]) -> None:
    assert result["rc"] == 2, result
    assert "Traceback" not in result["stderr"] and result["stdout"] == "", result
    lines = result["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {prefix}"), result["stderr"]
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.parametrize(
    "script,case", [("predict.py", case) for case in BAD_CHECKPOINTS] + [("eval.py", case) for case in EVAL_CLI_CASES]
)
def test_scripts_refuse_bad_checkpoints_in_one_line(run, cli, script, case):
    assert_cli_error(cli[(script, case)], "ckpt_path=", BAD_CHECKPOINTS[case][1])
    assert not (run.tmp / "cli" / "data").exists()  # eval.py's data.archive (absent) was never read


@pytest.mark.parametrize(
    "key,words",
    [
        (("predict.py", "fresh:truncated"), BAD_CHECKPOINTS["truncated"][1]),
        (("eval.py", "fresh:factorization"), BAD_CHECKPOINTS["factorization"][1]),
    ],
)
def test_fresh_processes_print_only_the_error_line(cli, key, words):
    assert_cli_error(cli[key], "ckpt_path=", words)


@pytest.mark.parametrize("case", BAD_FILES)
def test_predict_refuses_bad_review_files_in_one_line(cli, case):
    assert_cli_error(cli[("predict.py", f"file:{case}")], "file=", BAD_FILES[case][1])


def test_eval_without_ckpt_path(cli):
    assert_cli_error(cli[("eval.py", "no-ckpt_path")], "missing ckpt_path=", [])


def test_predict_file_one_row_per_line_in_order(cli):
    result = cli[("predict.py", "file:good")]
    assert result["rc"] == 0 and "Traceback" not in result["stderr"], result
    rows = result["stdout"].splitlines()  # splitlines(): no separator of any kind inside a row
    assert len(rows) == 5 and rows[0].split()[:3] == ["#", "P(pos)", "label"]
    assert rows[1].startswith("1   0.") and "positive  Loved,\\u2028masterpiece!" in rows[1]
    assert " ".join(rows[2].split()) == "2 - - [empty]"
    assert " ".join(rows[3].split()) == "3 - - [no known word] xyzzy plugh"
    assert rows[4].startswith("4   0.") and "negative  awful\\x85terrible waste" in rows[4]


def test_a_mistyped_setting_is_not_scored_as_a_review(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "predict.py"), "ckpt_path=x.ckpt", "files=reviews.txt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "unknown setting files=" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
