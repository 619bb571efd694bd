"""Run train.py with one fault injected at a chosen point (used by tests/test_faults_runs.py).

    python tests/fault_inject.py <fault> <train.py overrides...>

Faults (N = the 1-based epoch at whose end the fault fires):
    kill_after_remove:N   SIGKILL right after Lightning deleted the previous epoch's file (last.ckpt dangles)
    kill_before_link:N    SIGKILL after last.ckpt was removed, before it is re-linked (no last.ckpt at all)
    sigterm:N / sigint:N  the signal at the end of epoch N's training batches (mid-epoch for checkpoints)
"""

import os
import runpy
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    fault, _, epoch = sys.argv[1].partition(":")
    at_epoch = int(epoch)
    from lightning.pytorch.callbacks import ModelCheckpoint

    from overfit.models.mlp import BagOfWordsMLP

    if fault in ("kill_after_remove", "kill_before_link"):
        remove, link = ModelCheckpoint._remove_checkpoint, ModelCheckpoint._link_checkpoint

        def remove_then_kill(self, trainer, filepath):
            remove(self, trainer, filepath)
            if fault == "kill_after_remove" and trainer.current_epoch + 1 == at_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

        def link_after_kill(trainer, filepath, linkpath):
            if fault == "kill_before_link" and trainer.current_epoch + 1 == at_epoch:
                os.remove(linkpath)  # Lightning's own first step of re-linking
                os.kill(os.getpid(), signal.SIGKILL)
            link(trainer, filepath, linkpath)

        ModelCheckpoint._remove_checkpoint = remove_then_kill
        ModelCheckpoint._link_checkpoint = staticmethod(link_after_kill)
    elif fault in ("sigterm", "sigint"):
        signum = signal.SIGTERM if fault == "sigterm" else signal.SIGINT
        if signum == signal.SIGINT and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            # A shell's background job (`cmd &` without job control, e.g. a CI script started that way) starts
            # with SIGINT ignored, and Python keeps it so; a user's Ctrl-C always meets Python's own handler.
            signal.signal(signal.SIGINT, signal.default_int_handler)
        original = BagOfWordsMLP.on_train_epoch_end

        def signal_at_epoch_end(self):
            original(self)
            if self.current_epoch + 1 == at_epoch:
                os.kill(os.getpid(), signum)

        BagOfWordsMLP.on_train_epoch_end = signal_at_epoch_end
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    sys.argv = [str(REPO / "train.py"), *sys.argv[2:]]
    runpy.run_path(str(REPO / "train.py"), run_name="__main__")


if __name__ == "__main__":
    main()
