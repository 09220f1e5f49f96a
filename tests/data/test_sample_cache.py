"""The shipped sample vectors and map: current, real, and installed under the caches' names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.data import sample_cache
from recsys.data.sources import load_sample


def test_the_shipped_artefacts_match_the_model_and_the_sample():
    """Fails when the sample, the encoder or the map settings change without re-running
    ``python sample_data/artefacts.py``."""
    from recsys.maps.projection import ProjectionConfig

    meta = json.loads((sample_cache.ARTEFACTS / "meta.json").read_text())
    assert {k: meta[k] for k in sample_cache.current_keys()} == sample_cache.current_keys()
    assert meta["map"] == ProjectionConfig().key()


def test_the_shipped_vectors_are_the_encoders_vectors():
    from recsys.lm.encoder import encode_items

    shipped = np.load(sample_cache.ARTEFACTS / "embeddings.npy")
    texts = load_sample().item_text()
    rows = [0, 7, 500, 1999]
    fresh = encode_items([texts[i] for i in rows], cache_dir=None)
    assert shipped.shape == (len(texts), 384)
    assert np.allclose(shipped[rows], fresh, atol=1e-4)


def test_install_puts_them_where_the_caches_look(tmp_path):
    from recsys.lm.encoder import encode_items
    from recsys.maps import projection

    enc, proj = tmp_path / "emb", tmp_path / "proj"
    assert sample_cache.install(enc, proj)
    texts = load_sample().item_text()
    vectors = encode_items(texts, cache_dir=enc)  # a cache hit: no model is loaded
    assert np.array_equal(vectors, np.load(sample_cache.ARTEFACTS / "embeddings.npy"))
    assert projection.is_cached(vectors, projection.ProjectionConfig(), proj)
    xy = projection.project(vectors, projection.ProjectionConfig(), proj)
    assert np.array_equal(xy, np.load(sample_cache.ARTEFACTS / "map.npy"))


@pytest.mark.parametrize("broken", ["{}", "not json", '{"model": "other"}'])
def test_stale_or_broken_artefacts_are_not_installed(tmp_path, broken):
    folder = tmp_path / "artefacts"
    folder.mkdir()
    (folder / "meta.json").write_text(broken)
    assert not sample_cache.install(tmp_path / "emb", tmp_path / "proj", folder)
    assert not (tmp_path / "emb").exists()
