"""Lightning's lines that nobody running this project can act on, kept out of every run's output and train.log.

Each filter matches one message by its start, so any other tip or warning still shows.
"""

from __future__ import annotations

import logging
import warnings

# Advertisements for Lightning's cloud services, printed by every Trainer.
_TIP = "💡 Tip:"
_WARNINGS = (
    # Lightning 2.6's own use of torch's pytree API, deprecated in torch 2.10+: Lightning's to fix, not ours.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # On purpose: BagOfWordsMLP.transfer_batch_to_device hands batches already on the device back unwalked.
    r"You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a `LightningDataModule`",
)


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TIP)


def quiet_lightning() -> None:
    """Idempotent. rank_zero_info logs through this one logger (lightning.pytorch.utilities.rank_zero)."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoTips) for f in logger.filters):
        logger.addFilter(_NoTips())
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)
