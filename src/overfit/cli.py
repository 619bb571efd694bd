"""Shared by the root entry points: turn a user error into one line instead of a traceback.

Imports nothing that pulls in torch or Lightning (~5-8 s on a small machine): a config mistake, `--help` and
`--cfg job` answer before them; what a run needs is imported where the run starts (call_task, drop_empty_run_dir).
tests/test_first_contact.py checks it.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import shutil
import signal
import string
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig

from overfit import shown
from overfit.errors import OverfitError, RunInterrupted
from overfit.runs import train_log as run_log
from overfit.runs.ddp import ddp_ranks_run_this_job
from overfit.runs.dirs import remove_refused_sweep_dirs

log = logging.getLogger("overfit")


def run_task(task: Callable[[DictConfig], float | None], cfg: DictConfig, script: str) -> float | None:
    """Run `task(cfg)`; an OverfitError ends a single run with `error: <one line>` and exit code 2.

    In a multirun the error is re-raised instead, so the launcher or sweeper records the failed
    job (Optuna marks the trial failed) rather than the whole sweep exiting.
    `script` is the @hydra.main file (train.py): DDP ranks of a multirun job re-run it for that
    job alone (see overfit/runs/ddp.py). What is printed here also goes to the run's train.log (run_log).
    """
    with run_log.recorded():
        try:
            with ddp_ranks_run_this_job(script):
                return call_task(task, cfg)
        except OverfitError as err:
            if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
                shown.record(f"error: {err}")  # the terminal gets it once the sweep ends (run_hydra_main)
                drop_empty_run_dir()  # the job's dir, if the job was refused before it wrote anything
                raise
            shown.show(f"error: {err}", error=True)
            drop_empty_run_dir()
            sys.exit(2)
        except RunInterrupted as stop:  # a signal ends a sweep too: schedulers and `&&` must see the failure
            shown.show(f"interrupted: {stop}", error=True)
            sys.exit(stop.exit_code)
        except KeyboardInterrupt:  # Ctrl-C before or after Lightning's own handling (data preparation, summaries)
            shown.show("interrupted: Ctrl-C before training started or after it ended; nothing to resume", error=True)
            sys.exit(128 + signal.SIGINT)
        except Exception as err:  # a crash: Python prints the traceback on the terminal; the log keeps it too
            shown.record(f"{type(err).__name__}: {err}", exc_info=True)
            raise


def call_task(task: Callable[[DictConfig], float | None], cfg: DictConfig) -> float | None:
    """`task(cfg)`, with an OverfitError raised in a constructor (Hydra wraps it) raised as itself.

    Shared by run_task (train.py, eval.py) and overfit.run (overfit/api.py). Every setting given a value of
    the wrong type is refused first (checks.check_setting_types), before any data work."""
    from overfit.runs.checks import check_setting_types  # torch: a task runs now

    with run_log.recorded() as own:
        try:
            check_setting_types(cfg)
            return task(cfg)
        except InstantiationException as wrapped:  # Hydra wraps errors raised in constructors
            if not isinstance(wrapped.__cause__, OverfitError):
                raise
            err = wrapped.__cause__
        except OverfitError as refused:
            err = refused
        if own:  # overfit.run: the caller gets the error; the run's log keeps it (run_task records its own)
            shown.record(f"error: {err}")
        raise err from None


def drop_empty_run_dir() -> None:
    """A run refused before it did anything leaves no directory behind: only Hydra's .hydra/, a log that holds
    nothing but this run's own lines (Lightning's first ones, the error: run_log.only_this_runs)."""
    if not HydraConfig.initialized():
        return
    out = Path(HydraConfig.get().runtime.output_dir)
    entries = list(out.iterdir()) if out.is_dir() else []
    logs = [p for p in entries if p.suffix == ".log"]
    hydra_only = all(p.name == ".hydra" or p in logs for p in entries)
    if entries and hydra_only and all(map(run_log.only_this_runs, logs)):
        shutil.rmtree(out, ignore_errors=True)


def accept_null_groups(argv: list[str], conf_dir: str | Path) -> list[str]:
    """`logger=null` (how users switch a config group off) -> Hydra's `~logger`, which is what Hydra accepts."""
    groups = {p.name for p in Path(conf_dir).iterdir() if p.is_dir()}
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        plain = key.lstrip("+~")
        out.append(f"~{plain}" if sep and plain in groups and value.lower() in ("null", "none") else arg)
    return out


ROOT_ENV = "OVERFIT_ROOT"  # conf/paths/default.yaml's paths.root_dir
_OUR_FULL_ERROR = "OVERFIT_SET_HYDRA_FULL_ERROR"  # set beside HYDRA_FULL_ERROR when run_hydra_main set that


def run_hydra_main(main: Callable[[], object], conf_dir: str | Path, config_name: str) -> None:
    """Call a @hydra.main function; a misspelt setting or group option ends in one line (exit 2), as every other
    config error does, instead of Hydra's multi-line report (exit 1); so does a job's config error in a sweep.

    Hydra raises its errors only when HYDRA_FULL_ERROR is set (else it prints them and exits): we set it, unless
    the user did (then Hydra's own report stays). Other errors keep their full traceback. The processes this one
    starts inherit our setting (DDP ranks run train.py again), so it goes with a mark: for them it is ours too."""
    # The project root (conf/paths: logs/ and data/ live there) is the directory holding conf/, wherever the
    # command is launched from; inherited by what this process starts (DDP ranks, SLURM jobs). OVERFIT_ROOT wins.
    os.environ.setdefault(ROOT_ENV, project_root(conf_dir))
    if "HYDRA_FULL_ERROR" in os.environ and os.environ.get(_OUR_FULL_ERROR) != os.environ["HYDRA_FULL_ERROR"]:
        return main()
    os.environ["HYDRA_FULL_ERROR"] = os.environ[_OUR_FULL_ERROR] = "1"
    try:
        check_seeds_override(sys.argv[1:])
        check_sweep(Path(conf_dir), config_name, sys.argv[1:])
        if not print_app_help(Path(conf_dir), config_name, sys.argv[1:]):
            main()
    except (ConfigCompositionException, OverrideParseException, OverfitError) as err:
        # OverfitError: a sweep's job refused (run_task re-raises it there for the sweeper), or seeds=0
        refused = isinstance(err, OverfitError)
        line = str(err) if refused else explain_config_error(err, Path(conf_dir), config_name, sys.argv[1:])
        print(f"error: {line}", file=sys.stderr, flush=True)
        remove_refused_sweep_dirs()
        sys.exit(2)


def project_root(conf_dir: str | Path) -> str:
    """The directory holding `conf_dir`: "." when that is where we stand (paths read as they always did,
    logs/runs/...), else absolute (a run launched from elsewhere still writes the project's logs/ and finds its
    data cache)."""
    root = Path(conf_dir).resolve().parent
    return "." if root == Path.cwd().resolve() else str(root)


def print_app_help(conf_dir: Path, config_name: str, args: list[str]) -> bool:
    """`--help` as Hydra prints it (its default template, or ours in hydra.help), in a third of its time: Hydra
    also lists the hydra/ groups its template does not show, copying its config repository ~100 times (~1 s).
    False (Hydra answers) for another flag (--resolve: values from the run's Hydra config), a template that shows
    Hydra's flags or groups, or a searchpath. tests/test_first_contact.py compares the two, byte for byte."""
    flags = {a for a in args if a.startswith("-")}
    if not flags & {"-h", "--help"} or flags - {"-h", "--help"}:
        return False
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    script = Path(sys.argv[0])
    job_name = script.stem if script.suffix == ".py" else config_name  # Hydra names the job after the script
    overrides = [a for a in args if not a.startswith("-")]
    with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3", job_name=job_name):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    template = cfg.hydra.help.template
    if re.search(r"\$\{?(FLAGS_HELP|HYDRA_CONFIG_GROUPS)\b", template) or cfg.hydra.searchpath:
        return False
    groups = ""
    for folder in sorted(d for d in conf_dir.rglob("*") if d.is_dir() and d.relative_to(conf_dir).parts[0] != "hydra"):
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        groups += f"{folder.relative_to(conf_dir).as_posix()}: {', '.join(options)}\n" if options else ""
    with open_dict(cfg):
        del cfg["hydra"]
    print(string.Template(template).substitute(APP_CONFIG_GROUPS=groups, CONFIG=OmegaConf.to_yaml(cfg)))
    return True


def check_sweep(conf_dir: Path, config_name: str, args: list[str]) -> None:
    """`-m modle=1,2` or `-m model=baseline,dropuot`: Hydra finds the mistake when it composes that job, after the
    sweep's callbacks loaded Lightning (~8 s). Composed here first: each sweep at its first value, and again for a
    group option with no conf/<group>/<option>.yaml. Only choice and range sweeps (an Optuna interval: the sweeper's);
    whatever this cannot judge is left to Hydra. A mistake raises Hydra's own exception (run_hydra_main explains it)."""
    if not {"-m", "--multirun"} & set(args):
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    first, others = [], []
    for i, o in enumerate(OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])):
        if o.is_sweep_override() and o.value_type not in (ValueType.SIMPLE_CHOICE_SWEEP, ValueType.RANGE_SWEEP):
            return  # an interval (Optuna's) or a glob cannot be enumerated: the sweeper judges it
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [None]
        first.append(o.input_line if values[0] is None else f"{o.get_key_element()}={values[0]}")
        group = conf_dir / o.key_or_group
        if o.key_or_group.split("/")[0] != "hydra" and group.is_dir():
            others += [(i, f"{o.get_key_element()}={v}") for v in values[1:] if not (group / f"{v}.yaml").is_file()]
    try:
        with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
            for i, override in [(None, None), *others]:
                job = first if i is None else [*first[:i], override, *first[i + 1 :]]
                compose(config_name, overrides=job, return_hydra_config=True)
    except (ConfigCompositionException, OverrideParseException):
        raise
    except Exception:  # noqa: BLE001  (not a mistake this check knows: Hydra's own run decides)
        return


def check_seeds_override(args: list[str]) -> None:
    """`seeds=0` would launch an experiment's sweep of no job at all, and report success."""
    for arg in args:
        key, _, value = arg.lstrip("+").partition("=")
        if key == "seeds" and not (value.isdigit() and int(value) >= 1):
            raise OverfitError(f"seeds={value}: the number of seeds must be an integer >= 1, e.g. seeds=3")


def explain_config_error(err: Exception, conf_dir: Path, config_name: str = "train", args: list[str] = ()) -> str:
    """Hydra's message for a bad override, as one line naming the override and the fix (a close match if any)."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and "/" in err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.rpartition("/")
        options = sorted({p.stem for p in (conf_dir / group).glob("*.yaml")} | set(err.options or []))
        if not name:
            return f"{group}= needs a value: choose one of {', '.join(options)}"
        close = difflib.get_close_matches(name, options, n=1)
        hint = f"did you mean {group}={close[0]}? " if close else ""
        return f"{group}={name}: there is no conf/{group}/{name}.yaml; {hint}choose one of {', '.join(options)}"
    found = re.search(r"Could not override '([^']+)'", str(err))
    if found:
        key = found.group(1)
        keys = known_keys(conf_dir, config_name, args)
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.8) or [k for k in keys if k.endswith(f".{key}")]
        if close:
            return f"{key} is not a setting of this config: did you mean {close[0]}?"
        return (
            f"{key} is not a setting of this config (python {config_name}.py --cfg job lists them); an extra argument "
            f"that the config does not list (a Trainer one, say) takes a +: +{key}=..."
        )
    return " ".join(str(err).split())  # anything else Hydra refuses: its own words, on one line


def known_keys(conf_dir: Path, config_name: str, args: list[str]) -> list[str]:
    """Every dotted key of the config these group choices compose (model=dropout adds callbacks.early_stopping...)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    groups = {d.name for d in conf_dir.iterdir() if d.is_dir()}
    chosen = [a for a in args if "=" in a and "," not in a and a.partition("=")[0] in groups]
    try:
        with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
            cfg = compose(config_name, overrides=chosen, return_hydra_config=True)
    except Exception:  # noqa: BLE001  (only a hint is lost)
        return sorted(groups)

    def walk(node, prefix: str):
        for k, v in node.items():
            yield f"{prefix}{k}"
            if isinstance(v, dict):
                yield from walk(v, f"{prefix}{k}.")

    return sorted(walk(OmegaConf.to_container(cfg, resolve=False), ""))
