"""Docs cannot rot: every command written in README.md and docs/**/*.md still parses, and every link resolves.

How the commands and links are read out of the pages: docs_markdown.py; how a command is checked against its
entry point (Hydra's compose API, predict.py's main(), an argparse parser), in this process: docs_check.py. And
each docs/*.md page opens with the command it documents: its title, then a code block.
"""

from __future__ import annotations

import pytest
from conftest import REPO
from docs_check import check_command
from docs_markdown import (
    DOCS,
    Command,
    broken_link,
    commands_in,
    doc_commands,
    doc_links,
    github_slugs,
    inline_spans,
    logical_lines,
    split_markdown,
)

ALL_COMMANDS = [c for doc in DOCS for c in doc_commands(doc)]


# -------------------------------------------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.parametrize("cmd", ALL_COMMANDS, ids=[f"{c.where}:{c.script}" for c in ALL_COMMANDS])
def test_documented_command_still_parses(cmd):
    check_command(cmd)


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_links_and_images_resolve(doc):
    broken = [
        f"{doc.relative_to(REPO)}:{line}: ({target}): {why}"
        for line, target in doc_links(doc)
        if (why := broken_link(doc, target))
    ]
    if broken:
        pytest.fail("broken links:\n" + "\n".join(broken), pytrace=False)


def test_the_docs_are_found_and_hold_commands():
    """No vacuous pass: the pages, and the commands the README promises, are all seen."""
    names = {str(d.relative_to(REPO)) for d in DOCS}
    assert "README.md" in names and len(names) >= 8, names
    seen = {(c.doc.name, c.script, c.args) for c in ALL_COMMANDS}
    assert ("README.md", "train.py", ("model=dropout",)) in seen
    assert ("README.md", "train.py", ("experiment=regularization",)) in seen
    scripts = {c.script for c in ALL_COMMANDS}
    assert {"train.py", "eval.py", "predict.py", "scripts/results.py", "scripts/optim_lab.py"} <= scripts, scripts
    assert len(ALL_COMMANDS) >= 40
    assert sum(len(doc_links(d)) for d in DOCS) >= 20


def _fake(text: str) -> Command:
    ((script, args),) = commands_in(text)
    return Command(REPO / "README.md", 1, text, script, args)


@pytest.mark.parametrize(
    "text",
    [
        "python train.py model=dropout trainer.max_epochs=3 'model.hidden=[32,32]'",
        "python train.py -m model=baseline,dropout seed=range(3)",
        "python train.py experiment=regularization seeds=5",
        "python train.py -m hparams_search=optuna hydra.sweeper.n_trials=50",
        "python train.py logger=null model=... data.sha256=null ~callbacks.model_checkpoint",
        "python eval.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt",
        'python predict.py ckpt_path=x.ckpt "A moving, brilliant film." file=r.txt',
        "python scripts/optim_lab.py -m optimizer=gd,adam surface=beale",
        "python scripts/results.py --partial --out /tmp/x",
    ],
)
def test_checker_accepts_good_commands(text):
    check_command(_fake(text))


@pytest.mark.parametrize(
    "text, why",
    [
        ("python train.py model=dropuot", "Could not find 'model/dropuot'"),
        ("python train.py trainer.maxepochs=3", "Could not override 'trainer.maxepochs'"),
        ("python train.py -m model=baseline,dropuot", "sweep job model=dropuot"),
        ("python train.py experiment=regularization model.hiden=[2,2]", "model.hiden"),
        ("python train.py model=baseline,dropout", "without -m"),
        ("python train.py modell=...", "has no modell"),
        ("python eval.py ckpt_path=x.ckpt model=dropout", "Could not"),
        ("python predict.py ckpt_path=x.ckpt files=r.txt", "unknown setting files="),
        ("python predict.py file=r.txt", "missing ckpt_path"),
        ("python scripts/optim_lab.py surface=beal", "surface/beal"),
        ("python scripts/results.py --readmee x", "unrecognized arguments: --readmee"),
        ("python -m benchmarks --quick trainer.max_epoch=2", "trainer.max_epoch"),
        ("python scripts/nope.py", "does not exist"),
    ],
)
def test_checker_catches_rot(text, why):
    with pytest.raises(pytest.fail.Exception) as failed:
        check_command(_fake(text))
    assert why in str(failed.value) and "README.md:1: `" in str(failed.value), str(failed.value)


def test_command_extraction():
    assert commands_in("for i in 1 2; do python train.py -m hparams_search=optuna cpu_threads=1 & done; wait") == [
        ("train.py", ("-m", "hparams_search=optuna", "cpu_threads=1"))
    ]
    assert commands_in('sbatch --array=0-7 --wrap ".venv/bin/python train.py -m x=1"') == [("train.py", ("-m", "x=1"))]
    assert commands_in("python train.py model=big   # comment model=x") == [("train.py", ("model=big",))]
    assert commands_in("python3 -m venv .venv && .venv/bin/python -m pytest") == []
    code, _ = split_markdown("text\n```bash\npython train.py a=1 \\\n  b=2\n```\n```text\npython eval.py x\n```\n")
    assert logical_lines(code) == [(3, "python train.py a=1    b=2")]
    assert inline_spans(split_markdown("x\n`python eval.py c=3`\n")[1]) == [(2, "python eval.py c=3")]


def test_link_checker(tmp_path):
    assert github_slugs("# A b\n## What can go wrong?\n## A b\n```\n# not a heading\n```\n") == {
        "a-b",
        "what-can-go-wrong",
        "a-b-1",
    }
    doc = REPO / "docs" / "x.md"  # as if written in docs/
    assert broken_link(doc, "figures/compare/val_all_variants.png") is None
    assert broken_link(doc, "https://example.com/nothing") is None
    assert "does not exist" in broken_link(doc, "docs/figures/compare/val_all_variants.png")
    assert broken_link(REPO / "README.md", "README.md#overfit") is None
    assert "no heading" in broken_link(REPO / "README.md", "#no-such-heading")


@pytest.mark.parametrize("page", sorted((REPO / "docs").glob("*.md")), ids=lambda p: p.name)
def test_each_page_opens_with_the_command_it_documents(page):
    lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0].startswith("# ") and lines[1].startswith("```"), f"{page.name}: a title, then a code block"
    assert not lines[2].startswith("```"), f"{page.name}: its opening code block is empty"
