"""Make ``sample_data/artefacts/``: the sample's MiniLM vectors and default map (see
``recsys/data/sample_cache.py``). Run after changing the sample, the encoder or the map settings:

    python sample_data/artefacts.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package

from recsys.data.sample_cache import ARTEFACTS, MAX_LENGTH, current_keys  # noqa: E402
from recsys.data.sources import load_sample  # noqa: E402
from recsys.lm.encoder import encode_items  # noqa: E402
from recsys.maps import projection  # noqa: E402


def main() -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    vectors = encode_items(load_sample().item_text(), cache_dir=None, max_length=MAX_LENGTH)
    config = projection.ProjectionConfig()
    xy = projection.project(vectors, config, use_cache=False)
    np.save(ARTEFACTS / "embeddings.npy", vectors.astype(np.float32))
    np.save(ARTEFACTS / "map.npy", xy.astype(np.float32))
    meta = {**current_keys(), "map": config.key(), "items": len(vectors)}
    (ARTEFACTS / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {ARTEFACTS}: {vectors.shape} vectors, {xy.shape} map")


if __name__ == "__main__":
    main()
