"""The progress bar of every run: Lightning's own (Rich where it is installed, else tqdm), redrawn every few steps,
epochs counted from 1, accuracies in % (runs/numbers.py), and the test's bar gone once the test is done (the run
summary reports the test right below).

Hydra builds it from conf/callbacks/default.yaml (and conf/model/factorization.yaml, which redraws every 100 steps).
Why not Lightning's default: it redraws every step, and a redraw costs a few milliseconds in a terminal, as much as
a `baseline` training step. Measured 2026-12-01 on the 2-core dev machine under a pseudo-terminal, `baseline` 20
epochs (30 steps each), median of 3: fit 3.9 s with the default bar, 2.7 s with no bar, 2.8 s redrawn every 10 steps.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback, RichProgressBar, TQDMProgressBar

from overfit.runs import numbers


def progress_bar(enabled: bool = True, refresh_rate: int = 10) -> Callback:
    """A bar that redraws every `refresh_rate` steps (and at each epoch's end). With `enabled` false
    (trainer.enable_progress_bar=false) a no-op callback: the Trainer refuses a bar when its own is switched off."""
    if not enabled:
        return Callback()
    try:
        return RichBar(refresh_rate=refresh_rate)
    except ModuleNotFoundError:  # what RichProgressBar raises without a (recent enough) rich: its documented check
        return TQDMBar(refresh_rate=refresh_rate)


# Lightning's bars call the first of 20 epochs "Epoch 0/19"; the run summary, TensorBoard's x axis, compare.py and
# the checkpoints (epoch_001.ckpt: the weights after the first epoch) count from 1, and so do these bars.
def epoch_description(trainer, current_epoch: int) -> str:
    total = trainer.max_epochs
    return f"Epoch {current_epoch + 1}" + (f"/{total}" if total is not None and total > 0 else "")


def for_people(items: dict) -> dict:
    """The bar's metrics with accuracies in % ("val/acc=89.0%"); names as logged, the rest as Lightning writes it."""
    return {k: numbers.pct(float(v)) if numbers.kind(k) == "acc" else v for k, v in items.items()}


class RichBar(RichProgressBar):
    """Relabels the training bar right after Lightning adds or resets it, through its public Rich `progress` and
    `train_progress_bar_id` (Lightning's own label comes from a private method)."""

    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self._relabel(trainer)

    def on_train_batch_end(self, trainer, *args) -> None:
        fresh = self.train_progress_bar_id is None  # a run resumed mid-epoch gets its bar here, not at epoch start
        super().on_train_batch_end(trainer, *args)
        if fresh:
            self._relabel(trainer)

    def _relabel(self, trainer) -> None:
        if self.progress is not None and self.train_progress_bar_id is not None:
            # Padded as Lightning pads it, so that the line does not flicker when validation's bar takes over.
            label = f"{epoch_description(trainer, trainer.current_epoch):{len(self.validation_description)}}"
            self.progress.update(self.train_progress_bar_id, description=label)
            self.refresh()  # in a terminal a flag for Rich's drawing thread; in Jupyter, a redraw once an epoch

    def get_metrics(self, trainer, pl_module) -> dict:
        return for_people(super().get_metrics(trainer, pl_module))

    def on_train_end(self, trainer, pl_module) -> None:
        self.on_train_epoch_end(trainer, pl_module)  # Lightning's own: metrics and redraw (see TQDMBar.on_train_end)
        super().on_train_end(trainer, pl_module)

    def on_test_end(self, trainer, pl_module) -> None:
        super().on_test_end(trainer, pl_module)
        if self.progress is not None and self.test_progress_bar_id is not None:
            self.progress.update(self.test_progress_bar_id, visible=False)
            self.refresh()


class TQDMBar(TQDMProgressBar):
    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(epoch_description(trainer, trainer.current_epoch))

    def get_metrics(self, trainer, pl_module) -> dict:
        return for_people(super().get_metrics(trainer, pl_module))

    def on_train_end(self, trainer, pl_module) -> None:
        # The model logs train/* in its on_train_epoch_end, which Lightning calls after the bar's: the bar left on
        # the screen would show the train metrics of the epoch before the last.
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))
        super().on_train_end(trainer, pl_module)

    def init_test_tqdm(self):
        bar = super().init_test_tqdm()
        bar.leave = False  # Lightning leaves it on the screen, above the summary that reports the test
        return bar
