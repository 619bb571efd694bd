"""Where a run resumes from, decided so that no finished epoch is ever lost or silently redone from scratch.

    ckpt_path=last                     this run dir's newest intact checkpoint, else a fresh start (requeued jobs)
    ckpt_path=<dir>/checkpoints/x.ckpt that file when it is intact, else the newest intact one beside it

A run killed at any instant leaves at least one intact checkpoint once an epoch has finished: every file is
written to a temp name and renamed (io.py), and Lightning writes the new epoch's file before it
deletes the old one. What a kill can leave broken is the `last.ckpt` link: between deleting the previous epoch
file and re-linking, it dangles or is missing. So we never trust the name: every *.ckpt in the directory is
opened (memory-mapped, so only the header is read) and the one with the most optimizer steps wins.

Before any data work the chosen file must fit the model asked for (`check_fits`); a run already finished
trains nothing and answers with the metric it recorded (`finished_message`, `previous_result`).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from overfit.checkpoints import run_config
from overfit.checkpoints.checks import check_resumable, read_checkpoint
from overfit.errors import OverfitError

log = logging.getLogger("overfit")


@dataclass
class Candidate:
    path: Path
    global_step: int
    epochs_done: int  # finished epochs (Lightning's epoch_progress.completed... after the epoch-end save)
    stopped_early: bool
    run: dict | None = None  # the run's own configuration (run_config.Recorder), None in older checkpoints


def checkpoint_dir(cfg: DictConfig) -> Path | None:
    out_dir = OmegaConf.select(cfg, "paths.output_dir")
    ckpt_dir = OmegaConf.select(cfg, "callbacks.model_checkpoint.dirpath")
    if ckpt_dir:
        return Path(ckpt_dir)
    return Path(out_dir) / "checkpoints" if out_dir else None


def inspect(path: Path) -> Candidate | str:
    """A Candidate for an intact checkpoint, or a short reason why `path` cannot be resumed from."""
    if path.is_symlink() and not path.exists():
        return f"a link to {os.readlink(path)}, which no longer exists"
    if not path.is_file():
        return "no such file"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        detail = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        return f"unreadable, truncated or not a checkpoint ({detail})"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "loops" not in ckpt:
        return "not a Lightning training checkpoint (no state_dict or loop state)"
    progress = ckpt["loops"].get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    stopped = any(
        k.startswith("EarlyStopping") and int(v.get("stopped_epoch", 0) or 0) > 0
        for k, v in ckpt.get("callbacks", {}).items()
    )
    # Saved at an epoch's end, the epoch is processed but not yet counted completed.
    run = run_config.recorded(ckpt)
    return Candidate(path, int(ckpt.get("global_step", 0)), int(progress.get("processed", 0)), stopped, run)


def newest_intact(ckpt_dir: Path) -> tuple[Candidate | None, dict[Path, str]]:
    """The intact checkpoint with the most steps in `ckpt_dir` (ties: the newest file), and what was skipped."""
    best, broken, seen = None, {}, set()
    for path in sorted(ckpt_dir.glob("*.ckpt")) if ckpt_dir.is_dir() else []:
        real = path.resolve()
        if real in seen:  # last.ckpt -> epoch_NNN.ckpt: read once
            continue
        seen.add(real)
        found = inspect(path)
        if isinstance(found, str):
            broken[path] = found
        elif best is None or (found.global_step, path.stat().st_mtime) > (best.global_step, best.path.stat().st_mtime):
            best = found
    return best, broken


def resolve(cfg: DictConfig) -> Candidate | None:
    """Set cfg.ckpt_path to the checkpoint to resume from (or None: a fresh start); the chosen one, if any."""
    asked = cfg.get("ckpt_path")
    if not asked:
        return None
    if asked == "last":
        ckpt_dir = checkpoint_dir(cfg)
        hpc = sorted(Path(OmegaConf.select(cfg, "paths.output_dir") or ".").glob("hpc_ckpt_*.ckpt"))
        if hpc and os.environ.get("SLURM_JOB_ID"):
            # Lightning's SLURM auto-requeue saved a newer checkpoint at the signal; with ckpt_path=None
            # Lightning itself resumes from it.
            log.info(f"ckpt_path=last: SLURM requeue checkpoint {hpc[-1].name} found; Lightning resumes from it")
            cfg.ckpt_path = None
            return None
        best, broken = newest_intact(ckpt_dir) if ckpt_dir else (None, {})
        if best is None and broken:
            raise OverfitError(
                f"ckpt_path=last: {ckpt_dir} holds {len(broken)} checkpoint file(s) but none is "
                f"intact ({_describe(broken)}); delete {ckpt_dir} to start this run afresh"
            )
        if best is None:
            log.info(
                f"ckpt_path=last: no checkpoint in {ckpt_dir} yet, starting fresh (to resume an earlier run, "
                "add hydra.run.dir=<its dir>, or pass ckpt_path=<its checkpoints/last.ckpt>)"
            )
            cfg.ckpt_path = None
            return None
        _warn_skipped(broken, best)
        log.info(f"ckpt_path=last: newest intact checkpoint {best.path} ({best.epochs_done} epochs done)")
        cfg.ckpt_path = str(best.path)
        return best
    path = Path(asked)
    found = inspect(path)
    if isinstance(found, Candidate):
        return found
    best, broken = newest_intact(path.parent)
    if best is None:
        raise OverfitError(
            f"ckpt_path={asked}: {found}, and no intact checkpoint beside it; "
            "pass another run's checkpoints/last.ckpt, or drop ckpt_path to start afresh"
        )
    log.warning(
        f"ckpt_path={asked} is {found}; resuming from the newest intact checkpoint beside it, "
        f"{best.path.name} ({best.epochs_done} epochs done)"
    )
    cfg.ckpt_path = str(best.path)
    return best


def refuse_to_overwrite(cfg: DictConfig) -> None:
    """A fresh run never writes into another run's directory (an explicit hydra.run.dir used twice)."""
    if int(os.environ.get("LOCAL_RANK", 0) or 0) > 0:  # DDP ranks > 0 share rank 0's (still empty) directory
        return None
    out_dir = OmegaConf.select(cfg, "paths.output_dir")
    ckpt_dir = checkpoint_dir(cfg)
    held = [p for p in ([Path(out_dir) / "metrics.json"] if out_dir else []) if p.is_file()]
    held += sorted(ckpt_dir.glob("*.ckpt"))[:1] if ckpt_dir and ckpt_dir.is_dir() else []
    if held:
        raise OverfitError(
            f"paths.output_dir={out_dir} already holds a run ({held[0].name}): resume it with "
            "ckpt_path=last, or give this run another directory (hydra.run.dir=...)"
        )
    return None


def finished_message(cfg: DictConfig, found: Candidate | None) -> str | None:
    """A plain sentence when the checkpoint to resume from belongs to a run whose fit already ended."""
    if found is None:
        return None
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps", -1)
    done_epochs = max_epochs not in (None, -1) and found.epochs_done >= max_epochs
    done_steps = max_steps not in (None, -1) and found.global_step >= max_steps
    if not (found.stopped_early or done_epochs or done_steps):
        return None
    why = (
        "early stopping ended it"
        if found.stopped_early
        else f"{found.epochs_done} of trainer.max_epochs={max_epochs} epochs done"
        if done_epochs
        else f"{found.global_step} of trainer.max_steps={max_steps} steps done"
    )
    metrics = Path(found.path).parent.parent / "metrics.json"
    result = ""
    if metrics.is_file():
        try:
            record = json.loads(metrics.read_text())
            test_acc, run_epochs = record.get("metrics", {}).get("test/acc"), record.get("epochs_run")
            if run_epochs is not None and run_epochs != found.epochs_done:  # an older checkpoint of a longer run
                result = f"; the run it comes from went on to {run_epochs} epochs, its results are in {metrics}"
            else:
                result = f"; its results are in {metrics}" + (
                    f" (test acc {test_acc:.4f})" if test_acc is not None else ""
                )
        except (json.JSONDecodeError, OSError, AttributeError, TypeError):
            result = f"; see {metrics}"
    further = "" if found.stopped_early else "; to train it further, raise trainer.max_epochs"
    return f"nothing to resume: {found.path} is from a run that already finished ({why}){result}{further}"


def _describe(broken: dict[Path, str]) -> str:
    return "; ".join(f"{p.name}: {why}" for p, why in list(broken.items())[:3])


def _warn_skipped(broken: dict[Path, str], chosen: Candidate) -> None:
    if broken:
        log.warning(
            f"skipped checkpoint(s) that cannot be resumed from ({_describe(broken)}); using {chosen.path.name}"
        )


def check_fits(cfg: DictConfig) -> dict:
    """Before any data work (train.py): the ckpt_path checkpoint fits this config's model (names, shapes) and holds
    finite numbers.

    The model is built on the meta device (shapes only, no memory) with the input width the checkpoint was
    trained with; a different vocabulary is caught once the data is loaded (IMDBDataModule.load_state_dict).
    """
    checkpoint = read_checkpoint(cfg.ckpt_path)
    saved = checkpoint.get("hyper_parameters", {})
    # Same shapes are not the same model: baseline and dropout share every tensor shape.
    asked = {
        k: OmegaConf.to_object(v) if OmegaConf.is_config(v) else v
        for k, v in cfg.model.items()
        if k in ("variant", "hidden", "dropout", "rank")
    }
    differ = {
        k: (saved[k], v)
        for k, v in asked.items()
        if k in saved and list(np.atleast_1d(saved[k])) != list(np.atleast_1d(v))
    }
    if differ:
        was = ", ".join(f"{k}={saved[k]}" for k in differ)
        now = ", ".join(f"{k}={v}" for k, (_, v) in differ.items())
        hint = f"model={saved['variant']}" if "variant" in differ else "the model settings it was trained with"
        raise OverfitError(
            f"ckpt_path={cfg.ckpt_path}: trained with model {was}, this run asks for {now}; "
            f"resume with {hint} (and the rest of that run's overrides)"
        )
    data_kwargs = {k: saved[k] for k in ("vocab_size", "matrix_shape") if k in saved}
    if "matrix_shape" in data_kwargs:  # the factorization: its singular values only set the optimum, not a shape
        data_kwargs["singular_values"] = [0.0] * min(data_kwargs["matrix_shape"])
    try:
        with torch.device("meta"):
            model = instantiate(cfg.model, **data_kwargs)
    except Exception as err:  # e.g. a factorization checkpoint given to the IMDB model: say which file
        raise OverfitError(
            f"ckpt_path={cfg.ckpt_path}: does not fit model={OmegaConf.select(cfg, 'model.variant')} "
            f"({type(err).__name__}); resume with the model settings it was trained with"
        ) from None
    return check_resumable(cfg.ckpt_path, model, checkpoint=checkpoint)


def previous_result(ckpt: Path, key: str | None) -> float:
    """The optimized metric a finished run recorded in metrics.json (nan if it has none)."""
    metrics = Path(ckpt).parent.parent / "metrics.json"
    try:
        return float(json.loads(metrics.read_text())["metrics"][key]) if key else float("nan")
    except (OSError, KeyError, ValueError, TypeError):
        return float("nan")
