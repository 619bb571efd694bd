"""The archive's reviews -> a vocabulary (training reviews only) and both splits as sparse multi-hot CSR arrays.

    vocabulary, arrays = features(archive_path, sha256, vocab_size=10_000, preprocessing={...})
    arrays: train_/test_ indptr, indices (CSR rows), labels (int8, pos=1), ids (the review's number)

What data/cache.py stores and IMDBDataModule splits; built once per archive and settings.
"""

from pathlib import Path

import numpy as np

from overfit.data import archive as imdb_archive
from overfit.data import cache as feature_cache
from overfit.data.text import build_vocabulary, vectorize
from overfit.errors import OverfitError


def features(archive: Path, checksum: str, vocab_size: int, preprocessing: dict) -> tuple[list[str], dict]:
    """Read the archive's reviews, build the vocabulary on the training reviews only, vectorize both splits."""
    reviews = imdb_archive.read_reviews(archive, checksum)
    train_texts = [r[3] for r in reviews["train"]]
    vocabulary = build_vocabulary(train_texts, vocab_size, **preprocessing)
    if not vocabulary:
        raise OverfitError(
            f"IMDB archive {str(archive)!r}: its training reviews hold no words: use the official archive"
        )
    arrays = {}
    for split, texts in [("train", train_texts), ("test", [r[3] for r in reviews["test"]])]:
        arrays[f"{split}_indptr"], arrays[f"{split}_indices"] = vectorize(texts, vocabulary, **preprocessing)
        arrays[f"{split}_labels"] = np.array([r[0] for r in reviews[split]], dtype=np.int8)
        arrays[f"{split}_ids"] = np.array([r[1] for r in reviews[split]], dtype=np.int32)
    feature_cache.check_arrays(arrays, len(vocabulary))
    return vocabulary, arrays
