"""The bundled sample's item vectors and default map, shipped so a first visit is fast.

``sample_data/artefacts/`` holds what a fresh clone would otherwise compute on its first visit to
the Embeddings page (encoding the sample with the packaged MiniLM, then the first UMAP, whose
numba compile alone takes about a minute on a 2-core CPU): ``embeddings.npy``, ``map.npy`` and
``meta.json`` naming the model fingerprint and the texts they were made from. They are made by
``python sample_data/artefacts.py``. :func:`install` copies them into the encoder's and the
projection's disk caches under the names those caches look up, and only when the model and the
sample's text are still the ones they were made from; otherwise nothing is installed and the
caches fill the slow way.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from recsys.data.sources import SAMPLE_DIR, load_sample

ARTEFACTS = SAMPLE_DIR / "artefacts"
MAX_LENGTH = 128  # the encoder's default, which the pages use


def current_keys() -> dict[str, str]:
    """The keys the artefacts must match: the packaged model's weights, the sample's text.

    The model key hashes the folder's files only (not its path, which the encoder's own cache
    key includes and which differs from one virtualenv to the next).
    """
    from recsys.lm.encoder import resolve_model, texts_hash

    return {
        "model": model_content(Path(resolve_model(None))),
        "texts": texts_hash(load_sample().item_text()),
        "max_length": str(MAX_LENGTH),
    }


def model_content(folder: Path) -> str:
    """16 hex digits of a model folder's config and weight files (names, sizes, bytes)."""
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")):
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def install(
    encoder_cache: str | Path | None = None,
    projection_cache: str | Path | None = None,
    folder: Path = ARTEFACTS,
) -> bool:
    """Copy the shipped vectors and map into the caches; False when they no longer match."""
    from recsys.lm.encoder import DEFAULT_CACHE_DIR, cache_file, model_fingerprint, resolve_model
    from recsys.maps import projection
    from recsys.runs.atomic import atomic_save_npy

    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    keys = current_keys()
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in keys.items()):
        return False
    texts = load_sample().item_text()
    fingerprint = model_fingerprint(resolve_model(None))  # the encoder cache's own key
    vectors_at = cache_file(encoder_cache or DEFAULT_CACHE_DIR, fingerprint, MAX_LENGTH, texts)
    if not vectors_at.exists():
        vectors_at.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "embeddings.npy", vectors_at.with_suffix(".tmp"))
        vectors_at.with_suffix(".tmp").replace(vectors_at)
    vectors = np.load(vectors_at, allow_pickle=False)
    config = projection.ProjectionConfig()
    if meta.get("map") != config.key():
        return True  # the map's settings changed since: only the vectors are still good
    map_at = projection.cache_path(vectors, config, projection_cache)
    if not map_at.exists():
        map_at.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(map_at, np.load(folder / "map.npy", allow_pickle=False))
    return True
