"""`python train.py experiment=factorization` end to end: Hydra composition, overfit.train.train, CLI errors."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from overfit.errors import OverfitError
from overfit.train import train

REPO = Path(__file__).resolve().parents[1]


def config(tmp_path, *overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                "experiment=factorization",
                f"paths.log_dir={tmp_path / 'logs'}",
                f"paths.output_dir={tmp_path / 'run'}",
                *overrides,
            ],
        )


@pytest.mark.slow
def test_experiment_trains_to_the_optimum_and_logs_every_step(tmp_path, capsys):
    cfg = config(tmp_path)
    assert cfg.model.rank == 2 and cfg.model.optimizer.lr == 0.01 and cfg.trainer.max_steps == 1000
    gap = train(cfg)  # returns optimized_metric = train/gap
    assert -1e-5 <= gap < 1e-3  # -1e-5: the loss is float32, the optimum float64
    out = capsys.readouterr().out
    assert "rank-2 factorization after 1000 steps: loss 15.204" in out and "best possible 15.2046" in out

    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"scalars": 0}).Reload()
    loss, gaps = events.Scalars("train/loss"), events.Scalars("train/gap")
    assert [e.step for e in loss] == list(range(1000))
    assert gaps[-1].value == pytest.approx(gap, abs=1e-6)
    for lo, g in zip(loss, gaps):
        assert g.value == pytest.approx(lo.value - 15.2046443, abs=1e-5)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_csv_and_rank_overrides(tmp_path):
    a = np.random.default_rng(1).normal(size=(20, 6))
    path = tmp_path / "m.csv"
    np.savetxt(path, a, delimiter=",")
    cfg = config(
        tmp_path,
        f"data.path={path}",
        "model.rank=3",
        "trainer.max_steps=400",
        "model.optimizer.lr=0.02",
        "trainer.enable_progress_bar=false",
    )
    s = np.linalg.svd(a - a.mean(0), compute_uv=False)
    gap = train(cfg)
    assert -1e-5 <= gap < 1e-3 * (s[3:] ** 2).sum()  # within 0.1% of the rank-3 optimum (-1e-5: float32 loss)


@pytest.mark.parametrize(
    "override,words",
    [
        ("model.rank=4", ["model.rank=4", "150x4"]),
        ("model.rank=0", ["model.rank=0", ">= 1"]),
        ("data.path=/nonexistent.csv", ["data.path='/nonexistent.csv'", "does not exist"]),
    ],
)
def test_bad_input_fails_before_training(tmp_path, override, words):
    with pytest.raises(OverfitError) as err:
        train(config(tmp_path, override))
    assert all(w in str(err.value) for w in words)
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))  # no Trainer was built


@pytest.mark.slow
def test_resume_from_last_checkpoint_continues_exactly(tmp_path):
    straight = train(config(tmp_path / "a", "trainer.max_steps=500", "trainer.enable_progress_bar=false"))
    train(
        config(tmp_path / "b", "trainer.max_steps=300", "data.steps_per_epoch=100", "trainer.enable_progress_bar=false")
    )
    resumed = train(
        config(
            tmp_path / "c",
            "trainer.max_steps=500",
            "data.steps_per_epoch=100",
            f"ckpt_path={tmp_path / 'b' / 'run' / 'checkpoints' / 'last.ckpt'}",
            "trainer.enable_progress_bar=false",
        )
    )
    assert resumed == pytest.approx(straight, abs=1e-6)  # same U, V trajectory: float32 loss, identical ops


def test_model_and_data_groups_alone_run_the_same_protocol(tmp_path):
    """`model=factorization data=iris` (default trainer: 20 epochs of data.steps_per_epoch=50) = the experiment."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "model=factorization",
                "data=iris",
                f"paths.log_dir={tmp_path / 'logs'}",
                f"paths.output_dir={tmp_path / 'run'}",
                "trainer.max_steps=200",
                "trainer.enable_progress_bar=false",
            ],
        )
    assert cfg.optimized_metric == "train/gap" and cfg.data.rank == 2
    assert train(cfg) == pytest.approx(train(config(tmp_path / "x", "trainer.max_steps=200")), abs=1e-6)


@pytest.mark.parametrize(
    "overrides, accelerator",
    [
        (["model=factorization", "data=iris"], "cpu"),  # a model's default: no GPU for a 150 x 4 matrix
        (["model=factorization", "data=iris", "trainer.accelerator=gpu"], "gpu"),  # the user's choice wins
        (["model=factorization", "data=iris", "trainer=gpu"], "gpu"),
        ([], "auto"),  # the IMDB variants keep auto: a GPU where there is one
    ],
)
def test_accelerator_default_follows_the_model(overrides, accelerator):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    assert cfg.trainer.accelerator == accelerator
