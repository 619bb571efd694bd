"""The public APIs that replaced reaches into Hydra's and Optuna's private names (issue 21, item 3) do what the
private names did: a job's outcome, a trial's storage id (journal file and RDB alike)."""

from __future__ import annotations

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus

from overfit.search.pruning import load_trial
from overfit.search.space import open_storage
from overfit.search.sweeper import job_outcome
from overfit.search.workers import fail_lost, mark_lost


def _job(status: JobStatus, value) -> JobReturn:
    ret = JobReturn(overrides=["model=big"])
    ret.return_value, ret.status = value, status
    return ret


def test_a_jobs_outcome_is_its_value_or_its_exception_without_hydras_notice(capfd):
    err = ValueError("no such key")
    assert job_outcome(_job(JobStatus.COMPLETED, 0.875)) == 0.875
    assert job_outcome(_job(JobStatus.FAILED, err)) is err
    assert job_outcome(JobReturn()) is None  # never ran (JobReturn's return_value would assert)
    assert capfd.readouterr().err == ""  # the worker logs a failed trial itself, with its number and run dir


@pytest.fixture(params=["journal", "sqlite"])
def where(request, tmp_path):
    """A study with two running trials, in a journal file or an RDB (Optuna wraps an RDB in a cache)."""
    url = str(tmp_path / "s.journal") if request.param == "journal" else f"sqlite:///{tmp_path / 's.db'}"
    storage = open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trials = [study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}) for _ in range(2)]
    return {"study": study, "storage": storage, "url": url, "trials": trials}


def test_the_job_reports_to_its_own_trial(where):
    trial = load_trial({"study": "s", "storage": where["url"], "number": 1}, {"pruner": "none"})
    trial.report(0.5, step=0)
    trial.set_user_attr("pruned_at_epoch", 1)
    study = where["study"]
    assert study.trials[1].intermediate_values == {0: 0.5} and study.trials[1].user_attrs["pruned_at_epoch"] == 1
    assert study.trials[0].intermediate_values == {} and "pruned_at_epoch" not in study.trials[0].user_attrs


def test_a_lost_trial_is_marked_through_the_storage_whether_asked_here_or_read_back(where):
    study, storage = where["study"], where["storage"]
    mark_lost(study, storage, where["trials"][1], "its worker was interrupted")  # a Trial, from study.ask
    where["trials"][0].set_user_attr("worker", "elsewhere:1")
    fail_lost(study, storage, heartbeat_s=0)  # trial 0, read back as a FrozenTrial: silent for 5 x 0 s
    states = [(t.state, t.user_attrs.get("lost")) for t in study.trials]
    assert states == [
        (optuna.trial.TrialState.FAIL, "worker elsewhere:1 is gone"),
        (optuna.trial.TrialState.FAIL, "its worker was interrupted"),
    ]
