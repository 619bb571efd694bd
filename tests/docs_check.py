"""How test_docs.py checks a documented command: as its entry point reads it, in this process (no subprocess):

- a Hydra entry point (`@hydra.main(config_path=..., config_name=...)`, read from its source): the overrides are
  parsed by Hydra's override parser and composed with the compose API against that config dir (with
  return_hydra_config, so hydra/launcher=..., hydra.sweeper.* compose too); a sweep (`-m a,b`, range(), and
  the grid an experiment= sets in hydra.sweeper.params) is composed once per value of each swept config group,
  other swept keys at their first value. `x=...` (a placeholder value) only checks that x exists;
- predict.py: its own main() with the checkpoint loading stubbed out (unknown settings are refused there);
- an argparse script, or `python -m <package of this repository>` (`python -m benchmarks ...`: the package's
  __main__, imported as a module of its package): its own main() with ArgumentParser.parse_args stopped right
  after parsing, so nothing runs; a positional `overrides` (python -m benchmarks, its `threads` and
  `factorization`) is composed against train.py's config.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib.util
import inspect
import io
import sys
from pathlib import Path

import pytest
from conftest import REPO
from docs_markdown import Command
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

# Plugins that bring a Hydra config group option (only needed for those commands; `pip install -e ".[sweep]"`)
PLUGINS = {
    "joblib": "hydra_plugins.hydra_joblib_launcher",
    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
    "slurm": "hydra_plugins.hydra_submitit_launcher",  # conf/hydra/launcher/slurm.yaml extends submitit_slurm
}


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


def load_module(cmd: Command, name: str):
    """What `python -m <name>` runs, imported and not run: the module, or a package's __main__ (its relative
    imports work, as they do under -m; the repository root is on sys.path through pyproject's pytest pythonpath)."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        cmd.fail(f"python -m {name}: {name} does not exist")
    if spec.submodule_search_locations is not None:  # a package: python -m runs its __main__
        if importlib.util.find_spec(f"{name}.__main__") is None:
            cmd.fail(f"python -m {name}: the package has no __main__.py")
        name = f"{name}.__main__"
    return importlib.import_module(name)


def check_argparse(cmd: Command, module) -> None:
    name = f"python {cmd.script}" if cmd.script.startswith("-m ") else cmd.script
    if not callable(getattr(module, "main", None)):
        cmd.fail(f"{name} has no main() to check its command line with")
    namespace, code, stderr = run_main(cmd, module.main, list(cmd.args))
    if namespace is None:
        if code == 0 and {"-h", "--help"} & set(cmd.args):
            return
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"main() returned {code!r} before parsing"
        cmd.fail(f"{name}'s argument parser refuses it: {last}")
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
    if cmd.script.startswith("-m "):
        check_argparse(cmd, load_module(cmd, cmd.script[3:]))
        return
    script = REPO / cmd.script
    if not script.is_file():
        cmd.fail(f"{cmd.script} does not exist")
    entry = hydra_entry(script)
    if entry is not None:
        check_hydra(cmd, *entry)
    elif script.name == "predict.py" and script.parent == REPO:
        check_predict(cmd, script)
    else:
        check_argparse(cmd, load_script(script))
