"""eval.py and predict.py as real processes, given every bad checkpoint (test_faults_checkpoints.py) and review
file (test_faults_reviews.py): one error line on stderr, exit code 2, nothing on stdout, the data never read.

Most cases run in children forked from one process that imported torch and co. once (tests/forked.py: each child
runs the script as `__main__` with its own exit code and stderr, without the ~4 s import of torch per case), and a
few in fresh `python <script>` processes, which also show anything printed at import time.
"""

from __future__ import annotations

import codecs
import subprocess
import sys
from pathlib import Path

import forked
import pytest
from conftest import REPO
from test_faults_checkpoints import BAD_CHECKPOINTS, EVAL_CLI_CASES, make_bad
from test_faults_reviews import BAD_FILES, make_bad_file


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

    fresh = {
        ("predict.py", "fresh:truncated"): ["predict.py", f"ckpt_path={tmp / 'truncated.ckpt'}", "a review"],
        ("eval.py", "fresh:factorization"): ["eval.py", f"ckpt_path={tmp / 'factorization.ckpt'}", *eval_args],
    }
    procs = {key: _popen(args, tmp, str(i)) for i, (key, args) in enumerate(fresh.items())}
    # side by side (queue=False): each is a refusal before any data, or a few reviews scored, on one thread
    jobs = [forked.start([sys.executable, script, *args], cwd=REPO, queue=False) for script, args in cases]
    results = {}
    for i, (key, proc) in enumerate(procs.items()):
        results[key] = {
            "rc": proc.wait(timeout=120),
            "stdout": (tmp / f"{i}.out").read_text(),
            "stderr": (tmp / f"{i}.err").read_text(),
        }
    for key, job in zip(keys, jobs):
        done = job.wait(timeout=180)
        results[key] = {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    return results


def assert_cli_error(result: dict, prefix: str, words: list[str]) -> None:
    assert result["rc"] == 2, result
    assert "Traceback" not in result["stderr"] and result["stdout"] == "", result
    lines = result["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {prefix}"), result["stderr"]
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "script,case", [("predict.py", case) for case in BAD_CHECKPOINTS] + [("eval.py", case) for case in EVAL_CLI_CASES]
)
def test_scripts_refuse_bad_checkpoints_in_one_line(run, cli, script, case):
    assert_cli_error(cli[(script, case)], "ckpt_path=", BAD_CHECKPOINTS[case][1])
    assert not (run.tmp / "cli" / "data").exists()  # eval.py's data.archive (absent) was never read


@pytest.mark.slow
@pytest.mark.parametrize(
    "key,words",
    [
        (("predict.py", "fresh:truncated"), BAD_CHECKPOINTS["truncated"][1]),
        (("eval.py", "fresh:factorization"), BAD_CHECKPOINTS["factorization"][1]),
    ],
)
def test_fresh_processes_print_only_the_error_line(cli, key, words):
    assert_cli_error(cli[key], "ckpt_path=", words)


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_FILES)
def test_predict_refuses_bad_review_files_in_one_line(cli, case):
    assert_cli_error(cli[("predict.py", f"file:{case}")], "file=", BAD_FILES[case][1])


@pytest.mark.slow
def test_eval_without_ckpt_path(cli):
    assert_cli_error(cli[("eval.py", "no-ckpt_path")], "missing ckpt_path=", [])


@pytest.mark.slow
def test_predict_file_one_row_per_line_in_order(cli):
    result = cli[("predict.py", "file:good")]
    assert result["rc"] == 0 and "Traceback" not in result["stderr"], result
    rows = result["stdout"].splitlines()  # splitlines(): no separator of any kind inside a row
    assert len(rows) == 5 and rows[0].split()[:3] == ["#", "P(pos)", "label"]
    assert rows[1].startswith("1   0.") and "positive  Loved,\\u2028masterpiece!" in rows[1]
    assert " ".join(rows[2].split()) == "2 - - [empty]"
    assert " ".join(rows[3].split()) == "3 - - [no known word] xyzzy plugh"
    assert rows[4].startswith("4   0.") and "negative  awful\\x85terrible waste" in rows[4]


@pytest.mark.slow
def test_an_option_is_not_scored_as_a_review(tmp_path):
    result = forked.run(
        [sys.executable, str(REPO / "predict.py"), "ckpt_path=x.ckpt", "--file", "reviews.txt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: '--file': unknown option; the settings are")


@pytest.mark.slow
def test_a_mistyped_setting_is_not_scored_as_a_review(tmp_path):
    result = forked.run(
        [sys.executable, str(REPO / "predict.py"), "ckpt_path=x.ckpt", "files=reviews.txt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "unknown setting files=" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
