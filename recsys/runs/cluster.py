"""Beyond one box: catalogue encoding and batch scoring on a Ray cluster.

Both jobs cut the single-process work into the very same pieces and hand them to Ray tasks, so the
result is the single-process result (same batches, same order), only computed elsewhere:

- :func:`encode_on_cluster`: the encoder's own batch plan (texts sorted by token length, the
  batches :meth:`recsys.lm.encoder.Encoder.encode` would run) is split into contiguous shards;
  each task loads the encoder once and encodes its batches.
- :func:`score_on_cluster`: the fitted model is broadcast once (``ray.put``); each task scores a
  contiguous range of users in fixed-size batches, drops seen items and keeps the top ``k``.

Each task also writes its piece as a Parquet shard under ``shard_dir`` (``vectors-00003.parquet``,
``recs-00003.parquet``), so a driver that dies leaves the finished shards behind and a large
output never has to pass through one process's memory to be kept.

``address``: ``"local:N"`` starts a cluster of ``N`` worker CPUs on this machine, on loopback
only, for the duration of the ``with`` block; ``"auto"`` joins the cluster this machine belongs
to; ``"ray://host:10001"`` connects a client. Workers get this package through Ray's
``py_modules``, so a remote cluster needs only the same third-party packages.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

PACKAGE = Path(__file__).resolve().parents[1]  # recsys/


def check_address(address: str) -> str:
    """``local:N`` (N >= 1), ``auto`` or ``ray://host:port``; anything else is refused."""
    if address == "auto" or address.startswith("ray://"):
        return address
    if address.startswith("local:") and address[6:].isdigit() and int(address[6:]) >= 1:
        return address
    raise ValueError(
        f"--ray {address[:80]!r}: expected local:N (a cluster of N CPUs on this machine), auto "
        "(the cluster this machine is part of) or ray://HOST:PORT"
    )


@contextlib.contextmanager
def connect(address: str) -> Iterator[None]:
    """Ray initialised for the block (and shut down after it when this call started it)."""
    import ray

    check_address(address)
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a test box
    runtime_env = {"py_modules": [str(PACKAGE)], "env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}}
    if address.startswith("local:"):
        ray.init(
            num_cpus=int(address[6:]),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env=runtime_env,
            log_to_driver=False,
        )
    else:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def shards(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into at most ``parts`` contiguous, near-equal, non-empty ranges."""
    parts = max(1, min(parts, n))
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _workers() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# --- encoding ------------------------------------------------------------------------------------


def _encode_shard(
    model: str, max_length: int, batch_size: int, threads: int, ids, batches, path
) -> tuple[np.ndarray, np.ndarray]:
    from recsys.lm.encoder import Encoder

    encoder = Encoder(model, "cpu", max_length, batch_size, cache_dir=None, threads=threads)
    positions = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    vectors = [encoder.encode_batch([ids[i] for i in batch]) for batch in batches]
    out = np.vstack(vectors) if vectors else np.zeros((0, encoder.dim), dtype=np.float32)
    if path is not None:
        frame = pd.DataFrame({"position": positions, "vector": list(out)})
        frame.to_parquet(path, index=False)
    return positions, out


def encode_on_cluster(
    texts: Sequence[str],
    model: str | os.PathLike | None = None,
    max_length: int = 128,
    batch_size: int = 64,
    shard_dir: str | os.PathLike | None = None,
    threads: int = 1,
) -> np.ndarray:
    """(N, D) unit vectors of ``texts``, encoded by the cluster's workers (inside :func:`connect`).

    Same batches as a single-process :class:`~recsys.lm.encoder.Encoder` with the same
    ``max_length`` and ``batch_size``; ``threads`` torch threads per task.
    """
    import ray
    from transformers import AutoTokenizer

    from recsys.lm.encoder import length_batches, resolve_model

    name = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=Path(name).is_dir())
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    batches = length_batches([len(x) for x in ids], batch_size)
    task = ray.remote(num_cpus=threads)(_encode_shard)
    folder = _shard_folder(shard_dir)
    futures = []
    for n, part in enumerate(shards(len(batches), _workers())):
        chosen = [batches[i] for i in part]
        needed = {int(i) for b in chosen for i in b}
        sub = {i: ids[i] for i in needed}  # only this shard's token ids travel
        path = None if folder is None else folder / f"vectors-{n:05d}.parquet"
        futures.append(task.remote(name, max_length, batch_size, threads, sub, chosen, path))
    out: np.ndarray | None = None
    for positions, vectors in ray.get(futures):
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[positions] = vectors
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


# --- scoring -------------------------------------------------------------------------------------


def top_lists(
    model,
    users: np.ndarray,
    history: sp.csr_matrix,
    seen: sp.csr_matrix,
    k: int,
    candidates: np.ndarray | None = None,
):
    """(user, item, rank, score) positions of one batch: seen items dropped, -inf slots too, and
    only ``candidates`` items (an (I,) bool mask) when given."""
    from recsys.models.base import exclude, restrict, top_k

    if getattr(model, "pool_used_", False):  # the hybrid past ~100k items: its candidates only
        items, values = model.top_among(users, history[users], k, seen[users], candidates)
        return _rows(users, items, values)
    if candidates is None:
        scores = model.score(users, history[users])  # (B, I)
    else:
        scores = model.score_candidates(users, history[users], candidates)
        restrict(scores, candidates)
    exclude(scores, seen[users])
    items, values = top_k(scores, k)
    return _rows(users, items, values)


def _rows(users: np.ndarray, items: np.ndarray, values: np.ndarray):
    rows, ranks = np.nonzero(np.isfinite(values))
    return pd.DataFrame(
        {
            "user": users[rows],
            "item": items[rows, ranks],
            "rank": ranks + 1,
            "score": values[rows, ranks],
        }
    )


def _score_shard(model, history, seen, users: range, k, batch, candidates, path) -> pd.DataFrame:
    frames = [
        top_lists(model, np.arange(s, min(s + batch, users.stop)), history, seen, k, candidates)
        for s in range(users.start, users.stop, batch)
    ]
    frame = pd.concat(frames, ignore_index=True)
    if path is not None:
        frame.to_parquet(path, index=False)
    return frame


def score_on_cluster(
    model,
    history: sp.csr_matrix,
    seen: sp.csr_matrix,
    k: int,
    batch: int = 1024,
    shard_dir: str | os.PathLike | None = None,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """Top-``k`` of every user (rows of ``history``) as positions (user, item, rank, score).

    ``model`` is fitted already and broadcast once; users are cut into one contiguous range per
    worker CPU, each scored in batches of ``batch``.
    """
    import ray

    task = ray.remote(_score_shard)
    model_ref, history_ref, seen_ref = (ray.put(x) for x in (model, history.tocsr(), seen.tocsr()))
    folder = _shard_folder(shard_dir)
    futures = [
        task.remote(
            model_ref,
            history_ref,
            seen_ref,
            part,
            k,
            batch,
            candidates,
            None if folder is None else folder / f"recs-{n:05d}.parquet",
        )
        for n, part in enumerate(shards(history.shape[0], _workers()))
    ]
    frames = ray.get(futures)
    if not frames:
        return pd.DataFrame({"user": [], "item": [], "rank": [], "score": []})
    return pd.concat(frames, ignore_index=True)


def warm_encoder_cache(
    texts: Sequence[str],
    model: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_length: int = 128,
) -> Path:
    """Encode ``texts`` on the cluster into the encoder's cache file, where the models that use
    the encoder (:func:`recsys.lm.encoder.encode_items`) then find them; returns the file."""
    from recsys.lm.encoder import DEFAULT_CACHE_DIR, cache_file, model_fingerprint, resolve_model
    from recsys.runs.atomic import atomic_save_npy

    name = resolve_model(model)
    path = cache_file(cache_dir or DEFAULT_CACHE_DIR, model_fingerprint(name), max_length, texts)
    if not path.exists():
        vectors = encode_on_cluster(texts, name, max_length=max_length)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(path, vectors)
    return path


def _shard_folder(shard_dir: str | os.PathLike | None) -> Path | None:
    if shard_dir is None:
        return None
    folder = Path(shard_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("vectors-*.parquet"), *folder.glob("recs-*.parquet")]:
        old.unlink()  # a folder reused from a bigger cluster must not keep stale shards
    return folder
