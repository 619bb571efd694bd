"""Several workers on one study: who is alive (heartbeats), trials lost with their worker, one ask at a time.

A worker stamps its running trials with a heartbeat every `hydra.sweeper.heartbeat_s`; a RUNNING trial whose
worker is a dead process on this host, or has been silent for 5 heartbeats, is marked FAIL with a `lost` user
attribute, so that it no longer counts toward n_trials and the study goes on without it. Asks beside a journal
storage are serialized by a lock file, so that workers never overshoot n_trials.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any

from overfit.search.space import trial_id

log = logging.getLogger("overfit")
HOST = socket.gethostname()


@contextmanager
def ask_lock(storage: str):
    """Holds the lock file beside a journal storage; none for an RDB (its asks can overshoot by workers - 1).
    Optuna's own lock class, which has acquire/release but is no context manager; grace_period: a worker killed
    while holding it blocks the others for 30 s at most."""
    if "://" in storage:
        yield
        return
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(storage + ".ask", grace_period=30)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def fail_lost(study: Any, storage: Any, heartbeat_s: int) -> None:
    """RUNNING trials whose worker is gone: a dead process on this host, or silent for 5 heartbeats."""
    from optuna.trial import TrialState

    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        beat = trial.user_attrs.get("heartbeat", trial.datetime_start.timestamp() if trial.datetime_start else now)
        dead_here = host == HOST and pid.isdigit() and (int(pid) == os.getpid() or not alive(int(pid)))
        if dead_here or now - beat > 5 * heartbeat_s:
            mark_lost(study, storage, trial, f"worker {host}:{pid} is gone")


def mark_lost(study: Any, storage: Any, trial: Any, why: str) -> None:
    """Marks the trial (a Trial or a FrozenTrial) FAIL and `lost`. `storage`: the study's, as opened by
    search/space.py's open_storage: the user attribute goes through it, since a FrozenTrial cannot write one."""
    from optuna.trial import TrialState

    try:
        storage.set_trial_user_attr(trial_id(storage, study.study_name, trial.number), "lost", why)
        study.tell(trial.number, state=TrialState.FAIL)
        log.warning(f"optuna: trial {trial.number} lost ({why}); it no longer counts toward n_trials")
    except (RuntimeError, ValueError):  # another worker got there first
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return True


@contextmanager
def heartbeat(trials: list, every_s: int):
    """While the trials (from study.ask) run, stamp them every `every_s` seconds so other workers know this one is
    alive."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            for trial in trials:
                try:
                    trial.set_user_attr("heartbeat", time.time())
                except Exception:  # finished meanwhile, or a storage hiccup: the next beat retries
                    pass

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
