"""Docs cannot rot: every command written in README.md and docs/**/*.md still parses, and every link resolves.

Commands: each `python train.py|eval.py|predict.py|scripts/<x>.py ...` in a fenced code block or an inline code
span (shell lines split at ; & && | ||, `\\` continuations joined, `# comments` dropped, `<placeholder>` kept as
a word; ```text blocks are output and left out) is checked the way its entry point reads its command line, in
this process (no subprocess per command):

- a Hydra entry point (`@hydra.main(config_path=..., config_name=...)`, read from its source): the overrides are
  parsed by Hydra's override parser and composed with the compose API against that config dir (with
  return_hydra_config, so hydra/launcher=..., hydra.sweeper.* compose too); a sweep (`-m a,b`, range(), and
  the grid an experiment= sets in hydra.sweeper.params) is composed once per value of each swept config group,
  other swept keys at their first value. `x=...` (a placeholder value) only checks that x exists;
- predict.py: its own main() with the checkpoint loading stubbed out (unknown settings are refused there);
- an argparse script: its own main() with ArgumentParser.parse_args stopped right after parsing, so nothing
  runs; a positional `overrides` (benchmark.py, bench_threads.py) is composed against train.py's config.

Links: every `[..](target)`, `![..](target)`, `[ref]: target` and src/href= outside code resolves to a file
relative to the page; `page.md#anchor` and `#anchor` must name a heading (GitHub's slugs) of that page. And each
docs/*.md page opens with the command it documents: its title, then a code block.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib.util
import inspect
import io
import re
import shlex
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PYTHON = re.compile(r"^(?:\S*/)?python(?:3(?:\.\d+)?)?$")  # python, python3, .venv/bin/python
SHELL_OPS = {";", "&", "&&", "|", "||"}
FENCE = re.compile(r"^\s*(```|~~~)")
# Plugins that bring a Hydra config group option (only needed for those commands; `pip install -e ".[sweep]"`)
PLUGINS = {
    "joblib": "hydra_plugins.hydra_joblib_launcher",
    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
    "slurm": "hydra_plugins.hydra_submitit_launcher",  # conf/hydra/launcher/slurm.yaml extends submitit_slurm
}


@dataclass(frozen=True)
class Command:
    doc: Path
    line: int
    text: str  # as written (one logical line)
    script: str  # train.py, scripts/results.py, ...
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


def commands_in(line: str) -> list[tuple[str, tuple[str, ...]]]:
    """[(script, args)] of every `python <entry point> ...` in one shell line (also inside a quoted argument,
    as in `sbatch --wrap "python train.py ..."`)."""
    words, found, i = shell_words(line), [], 0
    while i < len(words):
        word = words[i]
        if PYTHON.match(word) and i + 1 < len(words) and words[i + 1].endswith(".py"):
            script, j = words[i + 1], i + 2
            while j < len(words) and words[j] not in SHELL_OPS:
                j += 1
            found.append((script, tuple(words[i + 2 : j])))
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


ALL_COMMANDS = [c for doc in DOCS for c in doc_commands(doc)]


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


# --------------------------------------------------------------------------------------- entry points


@functools.cache
def hydra_entry(script: Path) -> tuple[Path, str, bool] | None:
    """(config dir, config name, maps `group=null` to `~group`) of a `@hydra.main` script, None if not one."""
    source = script.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) in ("hydra.main", "main"):
                    kw = {k.arg: ast.literal_eval(k.value) for k in deco.keywords}
                    return (
                        (script.parent / kw["config_path"]).resolve(),
                        kw["config_name"],
                        "accept_null_groups" in source,
                    )
    return None


@functools.cache
def load_script(script: Path):
    """The script as a module (not __main__), importing its neighbours as `python <script>` would."""
    spec = importlib.util.spec_from_file_location(f"_docs_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(script.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(script.parent))
    return module


@functools.cache
def _compose(config_dir: Path, config_name: str, overrides: tuple[str, ...]):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def compose_or_fail(cmd: Command, config_dir: Path, config_name: str, overrides: list[str], what: str = ""):
    try:
        return _compose(config_dir, config_name, tuple(overrides))
    except Exception as err:  # noqa: BLE001 - any composition error is the finding
        error = err  # reported below, outside the except: no chained traceback
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    for group, option in (o.split("=", 1) for o in overrides if o.startswith("hydra/") and "=" in o):
        module = PLUGINS.get(option)
        if module and f"{group}/{option}" in str(error) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{cmd.where}: {group}={option} needs {module.split('.')[-1]} (pip install -e '.[sweep]')")
    cmd.fail(f"Hydra cannot compose {config_dir.relative_to(REPO)}/{config_name}.yaml{what}: {message}")


HYDRA_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path", "-cp"}
HYDRA_FLAGS = {"-m", "--multirun", "--resolve", "--info", "-i", "--help", "-h", "--hydra-help"}


def check_hydra(cmd: Command, config_dir: Path, config_name: str, null_groups: bool) -> None:
    args, multirun, words = list(cmd.args), False, []
    while args:
        arg = args.pop(0)
        flag, eq, value = arg.partition("=")
        if flag in HYDRA_FLAGS_WITH_VALUE:
            if not eq and not args:
                cmd.fail(f"{flag} needs a value")
            value = value if eq else args.pop(0)
            if flag in ("--config-name", "-cn"):
                config_name = value
            elif flag in ("--config-path", "-cp"):  # like config_path=: relative to the script
                config_dir = (REPO / cmd.script).parent.joinpath(value).resolve()
        elif arg in HYDRA_FLAGS:
            multirun = multirun or arg in ("-m", "--multirun")
        elif arg.startswith("-"):
            cmd.fail(f"{arg}: not a flag Hydra's command line knows")
        else:
            words.append(arg)
    if null_groups:
        from overfit.cli import accept_null_groups

        words = accept_null_groups(words, config_dir)
    placeholders = [w.split("=", 1)[0].lstrip("+~") for w in words if w.endswith("=...")]
    words = [w for w in words if not w.endswith("=...")]
    try:
        parsed, error = OverridesParser.create().parse_overrides(words), None
    except Exception as err:  # noqa: BLE001
        error = str(err).strip().splitlines()[0]
    if error:
        cmd.fail(f"Hydra's override parser refuses it: {error}")

    def grid(overrides) -> dict[str, list[str]]:  # BasicSweeper.split_arguments: {key: ["key=value", ...]}
        out = {}
        for o in overrides:
            key = o.get_key_element()
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
            out[key] = [key] if o.is_delete() and o.value() is None else [f"{key}={v}" for v in values]  # ~key
        return out

    command_line = grid(parsed)
    base = [values[0] for values in command_line.values()]
    cfg = compose_or_fail(cmd, config_dir, config_name, base)
    multirun = multirun or str(cfg.hydra.mode).endswith("MULTIRUN")  # experiment=... can set hydra.mode
    if any(o.is_sweep_override() for o in parsed) and not multirun:
        cmd.fail("a sweep (a,b or range()) without -m: Hydra refuses it; add -m")
    jobs = command_line
    if multirun and cfg.hydra.sweeper._target_.endswith(".BasicSweeper"):
        params = cfg.hydra.sweeper.get("params")
        params = OmegaConf.to_container(params, resolve=True) if params else {}
        config_grid = grid(OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()]))
        jobs = config_grid | command_line  # the command line wins (seed=7 replaces the seed sweep)
    first = {key: values[0] for key, values in jobs.items()}
    if jobs != command_line:
        compose_or_fail(cmd, config_dir, config_name, list(first.values()), f" (sweep job {list(first.values())})")
    choices = cfg.hydra.runtime.choices
    for key, values in jobs.items():
        if key.lstrip("+~") in choices:
            for value in values[1:]:  # every option of a swept config group; other keys: their first value
                job = list((first | {key: value}).values())
                compose_or_fail(cmd, config_dir, config_name, job, f" (sweep job {value})")
    for key in placeholders:
        if key not in choices and OmegaConf.select(cfg, key, default="<missing>") == "<missing>":
            cmd.fail(f"{key}=...: {config_name}.yaml has no {key}")


class _Parsed(Exception):
    def __init__(self, namespace):
        super().__init__("parsed")
        self.namespace = namespace


@contextlib.contextmanager
def stop_after_parsing():
    """ArgumentParser.parse_args/parse_known_args parse as usual, then raise _Parsed: main() stops there."""
    parse_known = argparse.ArgumentParser.parse_known_args

    def parse_args(self, args=None, namespace=None):
        namespace, extras = parse_known(self, args, namespace)
        if extras:
            self.error("unrecognized arguments: " + " ".join(extras))
        raise _Parsed(namespace)

    def parse_known_args(self, args=None, namespace=None):
        raise _Parsed(parse_known(self, args, namespace)[0])

    saved = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args, sys.argv
    argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = parse_args, parse_known_args
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args, sys.argv = saved


def run_main(cmd: Command, main, args: list[str]):
    """main(args) or main() with sys.argv set; returns (what stopped it, its return value, its stderr)."""
    stderr = io.StringIO()
    with stop_after_parsing(), contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        sys.argv = [cmd.script, *args]
        try:
            result = main(args) if inspect.signature(main).parameters else main()
        except _Parsed as parsed:
            return parsed.namespace, None, stderr.getvalue()
        except SystemExit as exit_:
            return None, exit_.code, stderr.getvalue()
    return None, result, stderr.getvalue()


def check_argparse(cmd: Command, script: Path) -> None:
    module = load_script(script)
    if not callable(getattr(module, "main", None)):
        cmd.fail(f"{cmd.script} has no main() to check its command line with")
    namespace, code, stderr = run_main(cmd, module.main, list(cmd.args))
    if namespace is None:
        if code == 0 and {"-h", "--help"} & set(cmd.args):
            return
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"main() returned {code!r} before parsing"
        cmd.fail(f"{cmd.script}'s argument parser refuses it: {last}")
    overrides = getattr(namespace, "overrides", None)
    if isinstance(overrides, list) and overrides:  # benchmark.py & co: Hydra overrides for train.py
        sub = Command(cmd.doc, cmd.line, cmd.text, "train.py", tuple(overrides))
        check_hydra(sub, *hydra_entry(REPO / "train.py"))


def check_predict(cmd: Command, script: Path) -> None:
    module = load_script(script)

    def loaded(*_args, **_kwargs):
        raise _Parsed("accepted")  # the command line was accepted: stop before reading the checkpoint

    saved = module.load_classifier
    module.load_classifier = loaded
    try:
        stopped, code, stderr = run_main(cmd, module.main, list(cmd.args))
    finally:
        module.load_classifier = saved
    if stopped is None and not (code == 0 and {"-h", "--help"} & set(cmd.args)):
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code!r}"
        cmd.fail(f"predict.py refuses it: {last}")


def check_command(cmd: Command) -> None:
    script = REPO / cmd.script
    if not script.is_file():
        cmd.fail(f"{cmd.script} does not exist")
    entry = hydra_entry(script)
    if entry is not None:
        check_hydra(cmd, *entry)
    elif script.name == "predict.py" and script.parent == REPO:
        check_predict(cmd, script)
    else:
        check_argparse(cmd, script)


# -------------------------------------------------------------------------------------------------- tests


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
        ("python scripts/benchmark.py --quick trainer.max_epoch=2", "trainer.max_epoch"),
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
