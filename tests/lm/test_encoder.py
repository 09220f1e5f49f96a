"""The item encoder: pooling, length bucketing, device, disk cache, the packaged MiniLM."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from recsys.lm import encoder as enc
from tests.lm_fixtures import tiny_encoder


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(enc.mean_pool(hidden, mask), torch.tensor([[2.0, 2.0]]))


def test_length_batches_cover_every_text_once_longest_first():
    batches = enc.length_batches([3, 9, 1, 5, 7], batch_size=2)
    assert [b.tolist() for b in batches] == [[1, 4], [3, 0], [2]]


def test_pick_and_describe_device():
    assert enc.pick_device("cpu").type == "cpu"
    assert enc.pick_device(None).type in ("cpu", "cuda", "mps")
    assert "CPU" in enc.describe_device("cpu") and "thread" in enc.describe_device("cpu")


def test_encode_is_unit_norm_and_independent_of_batching(tmp_path):
    e = tiny_encoder(tmp_path)
    texts = ["red apple", "a green pear and a red apple", "pear", "blue sky over the sea", ""]
    e.batch_size = 2
    a = e.encode(texts)
    e.batch_size = 16
    b = e.encode(texts)
    assert a.shape == (5, e.dim) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a, b, atol=1e-5)
    assert e.encode([]).shape == (0, e.dim)


def test_cache_hits_skip_the_model_and_changed_text_misses(tmp_path, monkeypatch):
    e = tiny_encoder(tmp_path, cache_dir=tmp_path / "cache")
    texts = ["red apple", "green pear"]
    first = e.encode_cached(texts)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    calls = []
    monkeypatch.setattr(e, "encode", lambda t, p=None: calls.append(t) or np.zeros((len(t), 1)))
    assert np.array_equal(e.encode_cached(texts), first)
    assert calls == []
    e.encode_cached(["red apple", "green pears"])
    assert len(calls) == 1


def test_packaged_model_folder_is_found():
    folder = enc.packaged_model_dir()
    assert (folder / "model.safetensors").exists()
    assert enc.resolve_model(None) == str(folder)
    assert enc.resolve_model("some-org/some-model") == "some-org/some-model"


@pytest.mark.slow
def test_packaged_minilm_offline_puts_similar_texts_closer(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = enc.Encoder(cache_dir=tmp_path)
    v = e.encode(["a space adventure with aliens", "science fiction war among the stars",
                  "a romantic comedy about a wedding"])  # fmt: skip
    assert e.dim == 384
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1
    assert enc.encode_items(["x"], cache_dir=tmp_path).shape == (1, 384)


def test_cache_is_capped_and_evicts_the_least_recently_used(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    e = tiny_encoder(tmp_path, cache_dir=cache)
    first, second = ["red apple", "green pear"], ["blue sky", "the sea"]
    e.encode_cached(first)
    e.encode_cached(second)
    size = e.cache_path(first).stat().st_size
    monkeypatch.setenv("LONGTAIL_EMBEDDING_CACHE_MB", str(2.5 * size / 2**20))  # two files fit
    os.utime(e.cache_path(first), (1, 1))
    os.utime(e.cache_path(second), (2, 2))
    e.encode_cached(first)  # a hit: now the most recently used
    e.encode_cached(["a robot", "a laser"])  # a third entry: the folder is over its cap
    assert e.cache_path(first).exists() and not e.cache_path(second).exists()
    assert len(list(cache.glob("*.npy"))) == 2
