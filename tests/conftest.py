"""Shared fixtures: small generated aclImdb-shaped archives, composed, shrunk train configs, and the trained
models whose checkpoints the fault tests spoil."""

from __future__ import annotations

import io
import os
import random
import shutil
import tarfile
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]

# The project root (conf/paths/default.yaml: logs/ and data/) of every run the tests start without paths of its
# own: a temp dir, so the suite writes nothing into the checkout whatever a test forgets to set. Tests of the
# root rule itself (test_project_root.py) take it out of the environment.
_ROOT = os.environ["OVERFIT_ROOT"] = tempfile.mkdtemp(prefix="overfit-tests-root-")


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_ROOT, ignore_errors=True)  # here, not atexit: forked children must not remove it


def pytest_collection_modifyitems(session, config, items) -> None:
    """The benchmark's runs go on in the background from the start (pytest_collection_finish): their tests, which
    wait for them, run last, and after them the test that needs idle cores to see a busy one."""
    background = [item for item in items if item.module.__name__ == "test_benchmark" and "started" in item.fixturenames]
    quiet = [item for item in items if item.nodeid.endswith("test_threads.py::test_idle_cores_sees_a_busy_core")]
    items[:] = [item for item in items if item not in background and item not in quiet] + background + quiet


def pytest_collection_finish(session) -> None:
    """Start tests/forked.py's server at once where a slow test of a module that uses it will run: its ~5 s of
    imports overlap the tests before. Start the selected benchmark runs too (test_benchmark.start_runs)."""
    slow = [item for item in session.items if item.get_closest_marker("slow")]
    if any(hasattr(getattr(item, "module", None), "forked") for item in slow):
        import forked

        forked.prestart()
    bench = [item for item in slow if item.module.__name__ == "test_benchmark" and "started" in item.fixturenames]
    if bench and not hasattr(session.config, "workerinput"):  # under pytest-xdist each worker collects them all
        bench[0].module.start_runs({item.originalname for item in bench})


CONF = REPO / "conf"
SHARED_ARCHIVE = REPO.parent / "shared" / "data" / "imdb" / "aclImdb_v1_labeled.tar.gz"

POSITIVE = "great wonderful superb loved brilliant moving excellent masterpiece charming delightful".split()
NEGATIVE = "awful boring terrible waste worst dull poorly mess stupid disappointing".split()
NEUTRAL = (
    "the a movie film plot actor scene story it was and of to is this that with for as but "
    "director camera music ending character time"
).split()


def review_text(rng: random.Random, label: int, length: int = 40) -> str:
    """A review whose sentiment words mostly (not always) agree with its label, so a model
    can learn it but not trivially reach 100%."""
    own, other = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
    words = [rng.choice(NEUTRAL) for _ in range(length)]
    for _ in range(6):
        words[rng.randrange(length)] = rng.choice(own if rng.random() < 0.85 else other)
    text = " ".join(words)
    return text[:1].upper() + text[1:] + ".<br /><br />Really, " + rng.choice(own) + "!"


def make_imdb_archive(
    path: Path, per_class: int = 60, seed: int = 0, splits=("train", "test"), extra: dict[str, str] | None = None
) -> Path:
    """Write a .tar.gz in the official layout: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt,
    plus an unsup/ folder and other files that readers must skip."""
    rng = random.Random(seed)
    files = {"aclImdb/README": "generated for tests", "aclImdb/imdb.vocab": "the\nmovie\n"}
    for split in splits:
        for label, folder in ((1, "pos"), (0, "neg")):
            for i in range(per_class):
                rating = rng.randint(7, 10) if label else rng.randint(1, 4)
                files[f"aclImdb/{split}/{folder}/{i}_{rating}.txt"] = review_text(rng, label)
    for i in range(5):
        files[f"aclImdb/train/unsup/{i}_0.txt"] = "unlabeled " + review_text(rng, 1)
    files.update(extra or {})
    return write_archive(path, files)


def write_archive(path: Path, files: dict[str, str]) -> Path:
    """A .tar.gz holding {member name: text}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory) -> Path:
    """120 reviews per split (60 pos, 60 neg)."""
    return make_imdb_archive(tmp_path_factory.mktemp("imdb") / "tiny_aclImdb.tar.gz")


def compose_train(overrides: list[str], config_name: str = "train") -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def tiny_overrides(archive: Path, tmp_path: Path, epochs: int = 1) -> list[str]:
    """Shrink a train config to seconds: the tiny archive, tmp dirs, one epoch."""
    return [
        f"data.archive={archive}",
        "data.sha256=null",
        "data.val_size=40",
        "data.batch_size=16",
        "data.vocab_size=50",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.output_dir={tmp_path / 'run'}",
        f"trainer.max_epochs={epochs}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
    ]


@pytest.fixture
def train_cfg(tiny_archive, tmp_path):
    """`train_cfg("model=dropout", ...)` -> a composed, shrunk config writing under tmp_path."""
    return lambda *overrides, epochs=1: compose_train(tiny_overrides(tiny_archive, tmp_path, epochs) + list(overrides))


VOCAB = 40  # the vocabulary size of the `run` fixture's classifier


@pytest.fixture(scope="session")
def run(tiny_archive, tmp_path_factory):
    """A tiny IMDB classifier (3 epochs, a VOCAB-word vocabulary) and a factorization model, trained once: the
    fault tests (test_faults_checkpoints.py, _reviews.py, _scripts.py) spoil copies of their checkpoints."""
    import torch

    from overfit.train import train

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
