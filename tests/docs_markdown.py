"""The commands and links written in README.md and docs/**/*.md, read out of the markdown (test_docs.py checks them).

Commands: each `python train.py|eval.py|predict.py|scripts/<x>.py ...` and `python -m <package of this repository>
...` (`python -m benchmarks ...`, as script `-m benchmarks`) in a fenced code block or an inline code span (shell
lines split at ; & && | ||, `\\` continuations joined, `# comments` dropped, `<placeholder>` kept as a word;
```text blocks are output and left out), as a `Command` that knows where it was written.

Links: every `[..](target)`, `![..](target)`, `[ref]: target` and src/href= outside code; `broken_link` says why
one does not resolve to a file relative to the page, or `page.md#anchor` and `#anchor` name no heading (GitHub's
slugs) of that page.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PYTHON = re.compile(r"^(?:\S*/)?python(?:3(?:\.\d+)?)?$")  # python, python3, .venv/bin/python
SHELL_OPS = {";", "&", "&&", "|", "||"}
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Command:
    doc: Path
    line: int
    text: str  # as written (one logical line)
    script: str  # train.py, scripts/results.py, ..., or `-m benchmarks` for `python -m benchmarks`
    args: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    def fail(self, why: str):
        command = re.sub(r"\s+#\s.*$", "", self.text).strip()  # without its comment
        pytest.fail(f"{self.where}: `{command}`\n  {why}", pytrace=False)


# ---------------------------------------------------------------------------------------------- markdown


def split_markdown(text: str) -> tuple[list[tuple[int, str]], str]:
    """([(line number, line) inside fenced code blocks], the text with those lines blanked). A ```text block is
    output, not commands: left out of both."""
    code, prose, fence, output = [], [], None, False
    for number, line in enumerate(text.splitlines(), 1):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence, output = opening.group(1), line.strip()[3:].strip() == "text"
            prose.append("")
        elif fence is not None and line.strip().startswith(fence):
            fence = None
            prose.append("")
        elif fence is not None:
            if not output:
                code.append((number, line))
            prose.append("")
        else:
            prose.append(line)
    return code, "\n".join(prose)


INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")


def inline_spans(prose: str) -> list[tuple[int, str]]:
    return [(prose.count("\n", 0, m.start()) + 1, m.group(1).replace("\n", " ")) for m in INLINE.finditer(prose)]


def logical_lines(code: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join `\\`-continued lines; each keeps the number of its first line."""
    out, start, parts = [], None, []
    for number, line in code:
        start = number if start is None else start
        if line.rstrip().endswith("\\"):
            parts.append(line.rstrip()[:-1])
            continue
        out.append((start, " ".join(parts + [line])))
        start, parts = None, []
    if parts:
        out.append((start, " ".join(parts)))
    return out


def shell_words(line: str) -> list[str]:
    line = re.sub(r"<([A-Za-z_][\w.-]*)>", lambda m: m.group(1).upper(), line)  # <run> -> RUN: a plain word
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: not a command line (prose in backticks)
        return []


def ours(module: str) -> bool:
    """A module of a package at this repository's root (benchmarks), not an installed tool (pytest, venv)."""
    return (REPO / module.split(".")[0] / "__init__.py").is_file()


def commands_in(line: str) -> list[tuple[str, tuple[str, ...]]]:
    """[(script, args)] of every `python <entry point> ...` in one shell line (also inside a quoted argument,
    as in `sbatch --wrap "python train.py ..."`); `python -m <our module> ...` as ("-m <module>", args)."""
    words, found, i = shell_words(line), [], 0
    while i < len(words):
        word = words[i]
        module = i + 2 < len(words) and words[i + 1] == "-m" and ours(words[i + 2])
        if PYTHON.match(word) and (module or (i + 1 < len(words) and words[i + 1].endswith(".py"))):
            script, first = (f"-m {words[i + 2]}", i + 3) if module else (words[i + 1], i + 2)
            j = first
            while j < len(words) and words[j] not in SHELL_OPS:
                j += 1
            found.append((script, tuple(words[first:j])))
            i = j
            continue
        if " " in word and "python" in word:
            found += commands_in(word)
        i += 1
    return found


def doc_commands(doc: Path) -> list[Command]:
    code, prose = split_markdown(doc.read_text(encoding="utf-8"))
    out = []
    for number, line in logical_lines(code) + inline_spans(prose):
        for script, args in commands_in(line):
            out.append(Command(doc, number, line, script, args))
    return out


# ------------------------------------------------------------------------------------------------- links


def github_slugs(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings (and explicit id=/name= anchors)."""
    _, prose = split_markdown(text)
    slugs, seen = set(), {}
    for line in prose.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))  # links: their text
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        slugs.add(slug if n == 0 else f"{slug}-{n}")
    slugs |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", prose))
    return slugs


LINK_TARGETS = [
    re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"),  # [text](t), ![alt](t), [![..](img)](t)
    re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE),  # [ref]: t
    re.compile(r"\b(?:src|href)=\"([^\"]+)\""),  # <img src="t">, <a href="t">
]


def doc_links(doc: Path) -> list[tuple[int, str]]:
    _, prose = split_markdown(doc.read_text(encoding="utf-8"))
    prose = INLINE.sub(lambda m: " " * len(m.group(0)), prose)  # nothing inside `code`
    found = []
    for pattern in LINK_TARGETS:
        found += [(prose.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in pattern.finditer(prose)]
    return sorted(found)


def broken_link(doc: Path, target: str) -> str | None:
    """Why `target` (as written in `doc`) does not resolve; None when it does."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # https:, mailto:, ...
        return None
    path, _, anchor = urllib.parse.unquote(target).partition("#")
    file = (doc.parent / path).resolve() if path else doc
    if not file.exists():
        return f"{file.relative_to(REPO) if file.is_relative_to(REPO) else file} does not exist"
    if anchor and file.suffix == ".md" and anchor not in github_slugs(file.read_text(encoding="utf-8")):
        return f"{file.name} has no heading with anchor #{anchor}"
    return None
