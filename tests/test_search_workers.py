"""Several workers on one study (overfit/search/workers.py), without a training run: a live worker's heartbeats keep
its running trials from being taken for lost by another worker, in a journal file and in an RDB alike, and stop
when its trials end. (A dead worker's trial: test_search.py kills one; lost-marking itself: test_compat_public.py.)"""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from overfit.search.space import open_storage
from overfit.search.workers import fail_lost, heartbeat


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_heartbeats_keep_a_live_workers_trials_and_stop_with_them(tmp_path, kind):
    url = str(tmp_path / "s.journal") if kind == "journal" else f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url), direction="maximize")
    trials = [study.ask({"x": FloatDistribution(0, 1)}) for _ in range(2)]
    for trial in trials:  # a worker on another host, last heard of 10 s ago
        trial.set_user_attr("worker", "elsewhere:1")
        trial.set_user_attr("heartbeat", time.time() - 10)

    def seen_by_another_worker() -> list:
        return optuna.load_study(study_name="s", storage=open_storage(url)).get_trials()

    with heartbeat(trials, every_s=0.05):
        time.sleep(0.5)
        other = open_storage(url)  # silent for 5 x 1 s: lost, unless the beats came through
        fail_lost(optuna.load_study(study_name="s", storage=other), other, heartbeat_s=1)
    seen = seen_by_another_worker()
    assert [(t.state, "lost" in t.user_attrs) for t in seen] == [(TrialState.RUNNING, False)] * 2
    assert all(time.time() - t.user_attrs["heartbeat"] < 1 for t in seen)
    time.sleep(0.3)  # the beats end with the block
    assert [t.user_attrs["heartbeat"] for t in seen_by_another_worker()] == [t.user_attrs["heartbeat"] for t in seen]
