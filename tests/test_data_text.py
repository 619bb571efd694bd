"""Preprocessing, vocabulary, CSR batches and the epoch/DDP sampler (no archive needed)."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from overfit.data.batches import CSRDataset, EpochBatchSampler, EpochSampler, identity
from overfit.data.text import build_vocabulary, encode, gather_rows, tokenize, vectorize

TEXT = "Great MOVIE,<br />isn't it?<br/>Yes!"


def test_tokenize_switches():
    assert tokenize(TEXT) == ["great", "movie", "isn", "t", "it", "yes"]
    assert tokenize(TEXT, lowercase=False) == ["Great", "MOVIE", "isn", "t", "it", "Yes"]
    assert tokenize(TEXT, strip_html=False) == ["great", "movie", "br", "isn", "t", "it", "br", "yes"]
    assert tokenize(TEXT, strip_punctuation=False) == ["great", "movie,", "isn't", "it?", "yes!"]
    # Non-ASCII text survives the bytes-level punctuation map untouched.
    assert tokenize("Café—très «bien»!") == ["café—très", "«bien»"]


def test_vocabulary_ranks_by_count_then_word_and_ignores_order():
    texts = ["b a c a", "c b d", "e"]  # a:2 b:2 c:2 d:1 e:1
    assert build_vocabulary(texts, 4) == ["a", "b", "c", "d"]
    assert build_vocabulary(texts[::-1], 4) == ["a", "b", "c", "d"]
    assert build_vocabulary(texts, 100) == ["a", "b", "c", "d", "e"]


def test_vectorize_is_binary_sorted_csr():
    indptr, indices = vectorize(["the cat the CAT", "dog", "", "cat dog the"], ["the", "dog", "cat"])
    assert indptr.tolist() == [0, 2, 3, 3, 6] and indices.dtype == np.int32
    assert indices.tolist() == [0, 2, 1, 0, 1, 2]


def dense(indptr, indices, n_cols):
    out = np.zeros((len(indptr) - 1, n_cols), dtype=np.int8)
    for r in range(len(indptr) - 1):
        out[r, indices[indptr[r] : indptr[r + 1]]] = 1
    return out


def rebuild(flat, offsets, n_cols):
    """Multi-hot rows back from EmbeddingBag inputs."""
    bounds = offsets.tolist() + [len(flat)]
    out = np.zeros((len(offsets), n_cols), dtype=np.int8)
    for r in range(len(offsets)):
        out[r, flat[bounds[r] : bounds[r + 1]].numpy()] = 1
    return out


def random_csr(n=53, n_cols=20, seed=0):
    rng = np.random.default_rng(seed)
    matrix = (rng.random((n, n_cols)) < 0.2).astype(np.int8)
    matrix[5] = 0  # an empty row (a review with no known word) must survive as an empty bag
    indptr = np.concatenate([[0], np.cumsum(matrix.sum(1))]).astype(np.int64)
    return matrix, indptr, np.nonzero(matrix)[1].astype(np.int32), rng.integers(0, 2, n)


def test_dataloader_batches_rebuild_the_rows():
    matrix, indptr, indices, labels = random_csr()
    sampler = EpochBatchSampler(EpochSampler(len(labels), shuffle=True, seed=3), batch_size=8, drop_last=False)
    loader = DataLoader(CSRDataset(indptr, indices, labels), batch_sampler=sampler, collate_fn=identity)
    seen = []
    for (flat, offsets, y), rows in zip(loader, iter(sampler)):
        assert flat.dtype == offsets.dtype == torch.int64 and y.dtype == torch.float32
        np.testing.assert_array_equal(rebuild(flat, offsets, 20), matrix[rows])
        np.testing.assert_array_equal(y.numpy(), labels[rows])
        seen += rows
    assert sorted(seen) == list(range(len(labels))) and len(loader) == 7  # ceil(53 / 8), last batch kept
    # And it feeds nn.EmbeddingBag directly.
    flat, offsets, _ = next(iter(loader))
    assert torch.nn.EmbeddingBag(20, 4, mode="sum")(flat, offsets).shape == (8, 4)


def test_gather_rows_matches_dense():
    matrix, indptr, indices, _ = random_csr()
    rows = np.array([7, 5, 0, 52, 7])
    flat, offsets = gather_rows(indptr, indices, rows)
    np.testing.assert_array_equal(
        rebuild(torch.from_numpy(flat.astype(np.int64)), torch.from_numpy(offsets), 20), matrix[rows]
    )


def test_encode_matches_vectorize():
    vocab = ["good", "bad", "film"]
    flat, offsets = encode(["A good film!", "zzz", "Bad, BAD film."], vocab)
    assert offsets.tolist() == [0, 2, 2] and flat.tolist() == [0, 2, 1, 2] and flat.dtype == torch.int64
    flat, offsets = encode(["Bad"], vocab, lowercase=False)
    assert flat.tolist() == [] and offsets.tolist() == [0]


def test_epoch_order_is_seeded_per_epoch():
    sampler = EpochSampler(100, shuffle=True, seed=7)
    sampler.set_epoch(3)
    first = list(sampler)
    assert first == np.random.default_rng([7, 3]).permutation(100).tolist()
    fresh = EpochSampler(100, shuffle=True, seed=7)  # a resumed run: new sampler, set_epoch(3) straight away
    fresh.set_epoch(3)
    assert list(fresh) == first
    sampler.set_epoch(4)
    assert list(sampler) != first and sorted(sampler) == list(range(100))
    assert list(EpochSampler(100, shuffle=True, seed=8)) != list(EpochSampler(100, shuffle=True, seed=7))
    batches = EpochBatchSampler(EpochSampler(100, shuffle=True, seed=7), 30, drop_last=False)
    batches.set_epoch(3)  # forwarded to the row sampler
    assert sum(list(batches), []) == first
    unshuffled = EpochSampler(10, shuffle=False)
    unshuffled.set_epoch(5)
    assert list(unshuffled) == list(range(10))


@pytest.mark.parametrize("n,world_size", [(103, 4), (100, 2), (7, 3)])
def test_ddp_shards_are_disjoint_and_cover(n, world_size):
    for shuffle in (True, False):
        shards = [EpochSampler(n, shuffle=shuffle, seed=1, rank=r, world_size=world_size) for r in range(world_size)]
        for s in shards:
            s.set_epoch(2)
        rows = [list(s) for s in shards]
        assert [len(r) for r in rows] == [len(s) for s in shards]
        flat = sum(rows, [])
        assert len(set(flat)) == len(flat)  # disjoint
        if shuffle:  # training: equal shares, at most world_size - 1 rows left out this epoch
            assert len({len(r) for r in rows}) == 1 and len(flat) == n - n % world_size
        else:  # val/test: every row exactly once
            assert sorted(flat) == list(range(n)) and max(map(len, rows)) - min(map(len, rows)) <= 1
