"""`python train.py ...` for the tests without paying ~5 s of imports per case: one server process imports torch,
lightning, hydra and overfit once, then forks a child per command. Each child is a real process of its own (its own
pid, exit code, stdout and stderr files, cwd and environment; kills and signals reach it alone) that runs the script
as `__main__` and leaves through the interpreter's own exit (tracebacks, SystemExit codes, non-daemon threads joined,
atexit handlers, flushed streams), as `python script.py` would, less the ~1.4 s of tearing down torch's and co.'s
modules that follows (a last atexit handler ends the child there). What a fork cannot give is a fresh import: the
tests about what a script prints while importing keep real subprocesses (test_faults_scripts.py's fresh cases).

    done = forked.run([sys.executable, "train.py", "seed=1"], cwd=tmp_path, timeout=300)  # as subprocess.run
    jobs = [forked.start([sys.executable, "train.py", f"seed={i}"], cwd=tmp_path) for i in range(3)]
    results = [job.wait(timeout=300) for job in jobs]          # one after another, in the server's order
    jobs = [forked.start([...], queue=False) for ...]          # all at once

The server starts on first use, or once the tests are collected where a selected slow test's module uses it
(conftest.py: its imports then overlap the first tests), and stops when the test process exits (its stdin closes).
Run as a script, this file is the server.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Read by the interpreter (or torch) at start-up: a fork inherits the server's, so a command asking for other
# values must run as a real subprocess. Two exceptions the child applies itself: PYTHONWARNINGS (`ignore` and co.)
# and PYTHONPATH where the server has none (its entries go after the script's dir, as the interpreter puts them:
# the tests' own callbacks, `+callbacks.x._target_=test_ddp.RecordSteps`; the server imported nothing from there).
AT_START = ("PYTHONHASHSEED", "PYTHONOPTIMIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHOME")
ACTIONS = ("default", "error", "ignore", "always", "module", "once")


# ---- the server ------------------------------------------------------------------------------------------------
_exit: list = [None]  # a child's exit status, once its script is done: 0, 1, n, or "SIGINT"


def _leave() -> None:
    """Registered before anything else, so run after every other atexit handler: a child ends here."""
    if _exit[0] is None:
        return  # the server itself
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if _exit[0] == "SIGINT":  # as the interpreter ends on an uncaught KeyboardInterrupt: killed by SIGINT
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(_exit[0])


def _serve() -> None:
    atexit.register(_leave)
    import lightning  # noqa: F401  (the imports every child would otherwise pay for)
    import matplotlib.pyplot  # noqa: F401
    import torch  # noqa: F401
    from hydra.core.plugins import Plugins

    import overfit.checkpoints.classifier  # noqa: F401
    import overfit.cli  # noqa: F401
    import overfit.eval  # noqa: F401
    import overfit.predict  # noqa: F401
    import overfit.train  # noqa: F401

    Plugins.instance()  # Hydra's scan for plugins, also once
    queue, running, pending = [], {}, b""

    def say(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()  # before any fork: a child must not inherit unwritten lines

    say({"ready": os.getpid()})
    while True:
        readable, _, _ = select.select([0], [], [], 0.02)
        if readable:
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return  # the client is gone: so is the server
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                queue.insert(len(queue) if request["queue"] else 0, request)  # queue=False: ahead of the rest
        # Queued children run one at a time: side by side, two children on torch's default two threads each would
        # fight over two cores (OpenMP threads spin while they wait: twice the CPU time, not half the minutes).
        while queue and (not running or not queue[0]["queue"]):
            request = queue.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(request)  # never returns: the child leaves through the interpreter's exit
            running[pid] = request["id"]
            say({"id": request["id"], "pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            say({"id": running.pop(pid), "rc": os.waitstatus_to_exitcode(status)})


def _child(request: dict) -> None:
    import runpy
    import warnings

    for fd, name, flags in ((0, os.devnull, os.O_RDONLY), (1, request["out"], 0), (2, request["err"], 0)):
        opened = os.open(name, flags or os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for action in filter(None, request["env"].get("PYTHONWARNINGS", "").split(",")):
        warnings.simplefilter(action)  # checked by the client: a bare action
    argv = request["argv"]
    sys.path[1:1] = [entry for entry in request["env"].get("PYTHONPATH", "").split(os.pathsep) if entry]
    _exit[0] = 1  # an uncaught exception: the interpreter prints it, then exit status 1
    try:
        if argv[0] == "-m":
            sys.argv, sys.path[0] = ["-m", *argv[2:]], os.getcwd()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv, sys.path[0] = list(argv), os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:  # the interpreter prints a code that is not an int, then exit status 1
        _exit[0] = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
        raise
    except KeyboardInterrupt:
        _exit[0] = "SIGINT"
        raise
    _exit[0] = 0
    raise SystemExit(0)


# ---- the client ------------------------------------------------------------------------------------------------
class _Server:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="overfit_forked_"))
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        self.log = open(self.tmp / "server.err", "w")
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=self.env,
            cwd=Path(__file__).parent,
        )
        self.ids, self.news, self.buffer = itertools.count(), {}, b""  # its imports go on while the tests do

    def _read_until(self, done, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.proc.stdout], [], [], left)[0]:  # timeout 0: read what is there, once
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                continue
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError(f"the fork server died: {(self.tmp / 'server.err').read_text()[-3000:]}")
            *lines, self.buffer = (self.buffer + chunk).split(b"\n")
            for line in map(json.loads, lines):
                self.news.setdefault(line.pop("id", "ready"), {}).update(line)
        return True

    def start(self, cmd: list, cwd, env: dict | None, queue: bool) -> Job:
        self._read_until(lambda: "ready" in self.news, 300)
        cmd = [str(c) for c in cmd]
        if cmd[0] != sys.executable or len(cmd) < 2 or cmd[1] == "-c":
            raise ValueError(f"forked: not a `python script` or `python -m module` command: {cmd[:3]}")
        env = dict(os.environ if env is None else env)
        for key in AT_START + (("PYTHONPATH",) if self.env.get("PYTHONPATH") else ()):
            if env.get(key) != self.env.get(key):
                raise ValueError(f"forked: {key}={env.get(key)!r} is read at start-up: use subprocess for this one")
        if not set(filter(None, env.get("PYTHONWARNINGS", "").split(","))) <= set(ACTIONS):
            raise ValueError(f"forked: PYTHONWARNINGS={env['PYTHONWARNINGS']!r}: only bare actions are applied")
        job = Job(self, next(self.ids), cmd)
        cwd = os.path.abspath(cwd or os.getcwd())  # relative to the caller's, as subprocess takes it
        request = {"id": job.id, "argv": cmd[1:], "cwd": cwd, "env": env, "queue": queue}
        request |= {"out": str(self.tmp / f"{job.id}.out"), "err": str(self.tmp / f"{job.id}.err")}
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        return job

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()
        for path in self.tmp.iterdir():
            path.unlink()
        self.tmp.rmdir()


class Job:
    """One forked command: `.pid` once it started, `.wait(timeout)` -> subprocess.CompletedProcess."""

    def __init__(self, server: _Server, id: int, cmd: list[str]) -> None:
        self.server, self.id, self.cmd = server, id, cmd

    @property
    def pid(self) -> int:
        self.server._read_until(lambda: "pid" in self.server.news.get(self.id, {}), None)
        return self.server.news[self.id]["pid"]

    def poll(self) -> subprocess.CompletedProcess | None:
        """Its result if it has ended, else None, at once (no wait, no kill)."""
        ended = self.server._read_until(lambda: "rc" in self.server.news.get(self.id, {}), 0)
        return self.wait() if ended else None

    def wait(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        if not self.server._read_until(lambda: "rc" in self.server.news.get(self.id, {}), timeout):
            os.kill(self.pid, 9)  # as subprocess.run does on a timeout: kill, then say so
            self.server._read_until(lambda: "rc" in self.server.news.get(self.id, {}), None)
            raise subprocess.TimeoutExpired(self.cmd, timeout)
        out, err = (self.server.tmp / f"{self.id}.{name}" for name in ("out", "err"))
        rc = self.server.news.pop(self.id)["rc"]
        done = subprocess.CompletedProcess(self.cmd, rc, out.read_text(), err.read_text())
        out.unlink()
        err.unlink()
        return done


_server: _Server | None = None


def _get() -> _Server:
    global _server
    if _server is None:
        _server = _Server()
        atexit.register(stop)
    return _server


def prestart() -> None:
    """Start the server now, without waiting for its imports."""
    _get()


def selected(request, test: str, argname: str | None = None) -> set:
    """The names of this session's selected tests called `test` (or, with argname, their values of that parameter):
    a fixture that starts work for several tests at once starts none that will not run."""
    items = [item for item in request.session.items if getattr(item, "originalname", item.name) == test]
    return {item.callspec.params[argname] for item in items} if argname else {item.name for item in items}


def start(cmd: list, *, cwd=None, env: dict | None = None, queue: bool = True) -> Job:
    """Fork `cmd` ([sys.executable, script or -m module, args...]), queued behind the other queued children;
    queue=False starts it at once, beside any other: commands meant to race each other, or whose work is one
    thread each (Hydra's composing, a run on `cpu_threads: auto`'s one thread), that two cores run side by side."""
    return _get().start(cmd, cwd, env, queue)


def run(cmd: list, *, cwd=None, env: dict | None = None, timeout: float | None = None, **kwargs):
    """subprocess.run(cmd, capture_output=True, text=True, ...) in a forked child."""
    if kwargs not in ({}, {"capture_output": True, "text": True}):
        raise ValueError(f"forked.run captures text output, always: {kwargs}")
    return start(cmd, cwd=cwd, env=env).wait(timeout)


def stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


if __name__ == "__main__":
    _serve()
