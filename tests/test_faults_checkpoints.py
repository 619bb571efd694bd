"""Faulty checkpoints for eval and predict: every bad checkpoint (empty, truncated, not torch, Python objects,
another model's, wrong shapes, nan/inf, altered hyper_parameters or vocabulary) is refused in one line naming
the file, what is wrong and what to do, before any long work: by load_checkpoint, by evaluate() before it reads
the data, and by check_resumable (the checks train.py runs for a resume).

The models are conftest's `run` fixture, trained once. The same cases through eval.py and predict.py as
processes: test_faults_scripts.py; review files and reviews: test_faults_reviews.py.
"""

from __future__ import annotations

import copy
import random
import shutil
from pathlib import Path

import pytest
import torch
from conftest import VOCAB, compose_train

from overfit.checkpoints.checks import check_resumable, check_weights, read_checkpoint
from overfit.checkpoints.classifier import load_checkpoint
from overfit.errors import OverfitError
from overfit.eval import evaluate
from overfit.models.mlp import BagOfWordsMLP


class Opaque:
    """Pickled by reference: a torch file holding it is refused by weights_only loading."""


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
# same overfit.checkpoints.classifier.load_classifier, and evaluate() is called directly for others below.
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


@pytest.mark.parametrize(
    "override,culprit",
    [("trainer=gpu", "trainer.accelerator=gpu: this machine has no CUDA GPU"), ("trainer.devices=4096", "4096")],
)
def test_evaluate_refuses_missing_devices_before_the_data(run, tmp_path, override, culprit):
    if override == "trainer=gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg = compose_train(
        [f"ckpt_path={run.ckpt}", override, f"data.archive={tmp_path / 'no.tar.gz'}", f"paths.data_dir={tmp_path}/d"],
        config_name="eval",
    )
    with pytest.raises(OverfitError, match=culprit):  # as train.py does: one line, before the data
        evaluate(cfg)
    assert not (tmp_path / "d").exists()


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
