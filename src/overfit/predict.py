"""P(positive) for raw reviews from a trained checkpoint (the root `predict.py` calls this).

Needs nothing but the checkpoint: it carries the vocabulary and the preprocessing settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from overfit.checkpoints import classifier_from_checkpoint, data_state, load_checkpoint
from overfit.data.text import encode
from overfit.errors import OverfitError


def predict(ckpt_path: str | Path, reviews: Sequence[str]) -> list[float]:
    """P(positive) for each review, in order."""
    if not reviews:
        raise OverfitError("no reviews given: pass them as arguments or file=<path> with one review per line")
    checkpoint = load_checkpoint(ckpt_path)
    state = data_state(checkpoint)
    model = classifier_from_checkpoint(checkpoint)
    indices, offsets = encode(list(reviews), state["vocabulary"], **state["preprocessing"])
    with torch.inference_mode():
        return model.predict_step((indices, offsets)).tolist()


def read_reviews_file(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise OverfitError(f"file={path}: no such file; give a text file with one review per line")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def format_predictions(reviews: Sequence[str], probabilities: Sequence[float], width: int = 70) -> str:
    lines = ["P(pos)  label     review"]
    for text, p in zip(reviews, probabilities):
        short = text if len(text) <= width else text[: width - 3] + "..."
        lines.append(f"{p:6.3f}  {'positive' if p >= 0.5 else 'negative'}  {short}")
    return "\n".join(lines)
