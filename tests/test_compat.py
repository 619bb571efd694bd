"""overfit/compat/: each private name of a dependency that overfit still needs, checked against the installed
version, so that an upgrade that moves or drops one fails here, naming the dependency, its version and the compat
module, instead of somewhere deep in a sweep. And nothing outside compat/ reaches into a dependency's privates."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import hydra
import lightning
import pytest
from omegaconf import OmegaConf

import overfit
from overfit.compat import hydra as compat_hydra
from overfit.compat import lightning as compat_lightning

REPO = Path(overfit.__file__).resolve().parents[2]
DEPENDENCIES = {"hydra", "omegaconf", "lightning", "pytorch_lightning", "optuna", "tensorboard", "torch"}


def check_hydra_callbacks() -> None:
    """compat/hydra.py: Callbacks(config) instantiates hydra.callbacks and notifies them, as run_job expects."""
    import hydra._internal.callbacks as where

    why = f"hydra-core {hydra.__version__}: hydra._internal.callbacks.Callbacks"
    assert hasattr(where, "Callbacks"), f"{why} moved or is gone; see overfit/compat/hydra.py"
    hooks = ("on_run_start", "on_run_end", "on_job_start", "on_job_end")
    lacking = [hook for hook in hooks if not callable(getattr(where.Callbacks, hook, None))]
    assert not lacking, f"{why} lacks {lacking}, which api.py and run_job call; see overfit/compat/hydra.py"


def check_lightning_subprocess_cmd() -> None:
    """compat/lightning.py: the module-level function both launchers call for the extra DDP ranks under Hydra."""
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as pl_launcher

    name = compat_lightning.SUBPROCESS_CMD
    for module in (pl_launcher, fabric_launcher):
        why = f"lightning {lightning.__version__}: {module.__name__}.{name}"
        assert callable(getattr(module, name, None)), f"{why} moved or is gone; see overfit/compat/lightning.py"
        # swapping the module's name only helps while the launcher looks it up there when it starts the ranks
        launcher = getattr(module, "_SubprocessScriptLauncher", None)
        calls = getattr(getattr(launcher, "_call_children_scripts", None), "__code__", None)
        assert calls is not None and name in calls.co_names, (
            f"{why} is no longer what the launcher calls for the extra ranks; see overfit/compat/lightning.py"
        )


CHECKS = {"hydra": check_hydra_callbacks, "lightning": check_lightning_subprocess_cmd}


@pytest.mark.parametrize("dependency", sorted(CHECKS))
def test_the_private_names_compat_needs_are_there(dependency):
    CHECKS[dependency]()


@pytest.mark.parametrize(
    "dependency,module,name,version",
    [
        ("hydra", "hydra._internal.callbacks", "Callbacks", f"hydra-core {hydra.__version__}"),
        (
            "lightning",
            "lightning.pytorch.strategies.launchers.subprocess_script",
            "_hydra_subprocess_cmd",
            f"lightning {lightning.__version__}",
        ),
    ],
)
def test_a_missing_name_fails_naming_the_dependency_and_its_version(dependency, module, name, version, monkeypatch):
    import importlib

    monkeypatch.delattr(importlib.import_module(module), name)
    with pytest.raises(AssertionError, match=f"^{version}: .*overfit/compat/{dependency}.py"):
        CHECKS[dependency]()


def test_hydra_callbacks_are_built_and_notified_in_order():
    calls = []

    class Recorder:
        def __init__(self, tag):
            self.tag = tag

        def on_run_start(self, config, **kwargs):
            calls.append(("start", self.tag))

        def on_run_end(self, config, **kwargs):
            calls.append(("end", self.tag))

    target = f"{__name__}.RECORDER"
    globals()["RECORDER"] = Recorder
    cfg = OmegaConf.create(
        {"hydra": {"callbacks": {"a": {"_target_": target, "tag": "a"}, "b": {"_target_": target, "tag": "b"}}}}
    )
    callbacks = compat_hydra.job_callbacks(cfg)
    callbacks.on_run_start(config=cfg)
    callbacks.on_run_end(config=cfg)
    assert calls == [("start", "a"), ("start", "b"), ("end", "b"), ("end", "a")]  # ends in reverse, as Hydra's run


def test_lightning_launchers_use_the_command_while_inside_and_get_theirs_back():
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as pl_launcher

    name = compat_lightning.SUBPROCESS_CMD
    before = [getattr(m, name) for m in (pl_launcher, fabric_launcher)]

    def command(local_rank):
        return ["python", "train.py", f"rank={local_rank}"], "."

    with compat_lightning.hydra_subprocess_command(command):
        assert [getattr(m, name)(1) for m in (pl_launcher, fabric_launcher)] == [command(1)] * 2
    assert [getattr(m, name) for m in (pl_launcher, fabric_launcher)] == before


def test_without_the_lightning_name_a_multirun_job_is_told_what_ddp_would_do(monkeypatch, caplog):
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher

    monkeypatch.delattr(fabric_launcher, compat_lightning.SUBPROCESS_CMD)
    with caplog.at_level(logging.WARNING, logger="overfit"):
        with compat_lightning.hydra_subprocess_command(lambda rank: ([], ".")):
            pass
    assert not hasattr(fabric_launcher, compat_lightning.SUBPROCESS_CMD)  # not set: it would change nothing
    assert f"lightning {lightning.__version__}: " in caplog.text and "re-run the whole sweep" in caplog.text


def _private_reaches(path: Path) -> list[str]:
    """A dependency's private module or name imported, or a _name read off anything but self/cls/our modules."""
    tree = ast.parse(path.read_text())
    ours = {
        a.asname or a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"overfit", "hydra_plugins", ""}
        for a in node.names
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in DEPENDENCIES:
            parts = node.module.split(".") + [a.name for a in node.names]
            if any(p.startswith("_") and not p.startswith("__") for p in parts):
                found.append(f"{path}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in DEPENDENCIES and any(p.startswith("_") for p in a.name.split(".")[1:]):
                    found.append(f"{path}:{node.lineno} import {a.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.endswith("_"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in ours)):
                found.append(f"{path}:{node.lineno} .{node.attr} on {ast.unparse(owner)[:40]}")
    return found


def test_no_private_name_of_a_dependency_outside_compat():
    files = [p for d in ("src", "scripts", "benchmarks") for p in (REPO / d).rglob("*.py") if "compat" not in p.parts]
    reaches = [hit for path in sorted(files) for hit in _private_reaches(path)]
    assert reaches == [], "use a public API, or confine the reach in src/overfit/compat/ (one module a dependency)"


def test_no_subclass_overrides_a_private_method_of_a_dependency():
    """Overriding a base class's _method ties us to its internals as much as calling it (progress.py did)."""
    import importlib
    import inspect

    src = REPO / "src"
    overrides = []
    for path in sorted(src.rglob("*.py")):
        name = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        if "compat" in name.split("."):
            continue
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == name):
                continue
            theirs = [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] in DEPENDENCIES]
            for attr, value in vars(cls).items():
                method = inspect.isfunction(value) or isinstance(value, (property, staticmethod, classmethod))
                if method and attr.startswith("_") and not attr.endswith("__") and any(attr in vars(b) for b in theirs):
                    overrides.append(f"{name}.{cls.__name__}.{attr}")
    assert overrides == [], "use the public hooks, or confine the override in src/overfit/compat/"
