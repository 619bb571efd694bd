"""Checkpoint writes straight to disk: `torch.save` into a temp file beside the target, then an atomic rename.

Lightning's default `TorchCheckpointIO` first serializes the whole checkpoint into an in-memory buffer and
then copies that buffer out through fsspec. For `big` (65 MB with Adam's state, written every epoch) that
took 70-220 ms per write here, against 13-17 ms written this way: 1-2 s of a 20-epoch `big` run. Part of the
saving is skipping the zip CRC-32s (50 -> 32 ms for 80 MB in a separate measurement), which `torch.load`
never checks: a flipped byte in a tensor loads silently with or without them. The rename keeps the
guarantee that matters: a crash or an error mid-write leaves the previous checkpoint as it was, never a
truncated one. Remote paths (s3://, gs://, ...) keep Lightning's way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.utils.serialization
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicFileCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            config = getattr(torch.utils.serialization, "config", None)  # torch >= 2.6; older ones write the CRCs
            if config is not None:
                with config.patch({"save.compute_crc32": False}):
                    torch.save(checkpoint, partial)
            else:
                torch.save(checkpoint, partial)
            os.replace(partial, path)  # atomic on POSIX and Windows, within one directory
        finally:
            partial.unlink(missing_ok=True)
