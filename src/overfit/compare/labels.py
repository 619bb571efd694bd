"""How runs are ordered and named in the figures and tables: the variants' order, what a sweep varied, labels.

A run's label is its variant plus the values of the swept keys ("baseline train_size=500"): keys that take more
than one value within some variant (`swept_keys`). Keys that only differ between variants (model.hidden of
small vs big) are part of the variants and stay out of the labels.
"""

from __future__ import annotations

import ast
from collections import defaultdict

VARIANTS = ("baseline", "small", "big", "l2", "dropout", "early_stopping")  # the notebook's order
REFERENCE = "baseline"
SEED, VARIANT, TRAIN_SIZE, HIDDEN = "seed", "model.variant", "data.train_size", "model.hidden"


def plain(value):
    """1.0 -> 1 (HPARAMS stores every number as a double); anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def variant_order(variant: str) -> tuple:
    return (VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS), variant)


def first_value(value, keep_text: bool = False):
    """An HPARAMS value parsed, a list by its first item: "[16, 16]", [16, 16] and 16 -> 16, "0.5" -> 0.5.

    Text that is no Python literal gives None, or (`keep_text`) the text itself, for tables that show it."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value if keep_text else None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value


def width(hidden) -> int | None:
    """The first hidden layer's width from `model.hidden` ("[16, 16]", a list or a number)."""
    hidden = first_value(hidden)
    return int(hidden) if isinstance(hidden, (int, float)) and not isinstance(hidden, bool) else None


def _sort_value(value) -> tuple:
    """Numbers by value, hidden sizes ("[16, 16]") by width, then anything else as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    first = width(value)
    return (0, float(first), str(value)) if first is not None else (1, 0.0, str(value))


def sweep_order(hparams: dict, swept: list[str]) -> tuple:
    return tuple(_sort_value(hparams.get(k)) for k in swept)


def _key_order(key: str) -> tuple:
    return (key != TRAIN_SIZE, key != HIDDEN, key)  # train size first, then width, then by name


def swept_keys(runs: list) -> list[str]:
    """HPARAMS keys (but seed and variant) taking more than one value within some variant: what a sweep varied.

    Keys that only differ between variants (model.hidden of small vs big) are part of the variants."""
    values = defaultdict(set)
    with_hparams = [r for r in runs if r.hparams]
    keys = {k for r in with_hparams for k in r.hparams} - {SEED, VARIANT}
    for run in with_hparams:
        for key in keys:
            values[(run.variant, key)].add(repr(run.hparams.get(key)))
    return sorted({key for (_, key), seen in values.items() if len(seen) > 1}, key=_key_order)


def short(key: str, swept: list[str]) -> str:
    """A swept key by its last part (train_size) unless another swept key ends the same way."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in swept) == 1 else key


def fmt_value(value) -> str:
    value = plain(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def group_label(variant: str, hparams: dict, swept: list[str]) -> str:
    parts = [f"{short(k, swept)}={fmt_value(hparams.get(k))}" for k in swept]
    return variant + (" " + " ".join(parts) if parts else "")
