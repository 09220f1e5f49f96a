"""The best model of a run as one consistent generation: checkpoint, item vectors and item ids.

The training loop commits a new best model in this order::

    gen/best-<g>.safetensors, gen/item_embeddings-<g>.npy, gen/item_ids-<g>.json   (each atomic)
    best.json  {"generation": g, "epoch", "items", "fingerprint"}    <- the commit point
    best.safetensors, item_embeddings.npy, item_ids.json   hard links to generation g

then removes the files of older generations. Readers follow ``best.json``: a crash at any moment
leaves either the previous generation or the new one, never a checkpoint of one epoch beside
vectors of another. The fixed names at the top are kept for viewers that only check that a model
exists (and its time stamp); a crash before they are re-linked is repaired by :func:`sweep` when
the next trainer starts. A folder without ``best.json`` (written by an older version, or by
:meth:`~recsys.runs.folder.RunFolder.save_item_embeddings` alone) is read from the fixed names.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys.runs.atomic import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    fsync_dir,
    json_default,
    read_json,
    read_json_dict,
    sweep_temp,
)

MANIFEST, GENERATIONS = "best.json", "gen"
BEST, EMBEDDINGS, ITEM_IDS = "best.safetensors", "item_embeddings.npy", "item_ids.json"


@dataclass
class Best:
    """One generation of a run's best model, read back whole."""

    vectors: np.ndarray  # (I, D) float32 item vectors, rows in ``ids`` order
    ids: list[str]  # (I,) external item ids
    tensors: dict | None = None  # checkpoint tensors (None when not asked for, or absent)
    meta: dict = field(default_factory=dict)  # checkpoint metadata
    generation: int | None = None  # None: a folder without best.json


def generation_files(run_dir: Path, generation: int) -> tuple[Path, Path, Path]:
    """``(checkpoint, vectors, ids)`` of one generation; names come from the number only."""
    gen, g = run_dir / GENERATIONS, f"{generation:06d}"
    return (gen / f"best-{g}.safetensors", gen / f"item_embeddings-{g}.npy",
            gen / f"item_ids-{g}.json")  # fmt: skip


def manifest(run_dir: Path) -> dict | None:
    """``best.json`` when it is well formed (a positive integer generation), else None."""
    found = read_json_dict(run_dir / MANIFEST)
    g = found.get("generation")
    return found if isinstance(g, int) and not isinstance(g, bool) and g > 0 else None


# --------------------------------------------------------------------------- write


def commit(run_dir: Path, vectors: np.ndarray, ids, tensors: dict | None, meta: dict) -> int:
    """Write a new generation and commit it; returns its number."""
    current = manifest(run_dir)
    g = (current["generation"] if current else 0) + 1
    ckpt, vec, id_file = generation_files(run_dir, g)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ids = [str(i) for i in ids]
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} item ids for {len(vectors)} item vectors")
    atomic_write_json(id_file, ids, mkdir=False)
    atomic_save_npy(vec, vectors, mkdir=False)
    if tensors is not None:
        atomic_write_bytes(ckpt, checkpoint_bytes(tensors, {**meta, "generation": g}), False)
    atomic_write_json(
        run_dir / MANIFEST,
        {"generation": g, "epoch": meta.get("best_epoch"), "items": len(ids),
         "checkpoint": tensors is not None, "fingerprint": meta.get("fingerprint")},
        mkdir=False,
    )  # fmt: skip
    link_fixed_names(run_dir, g)
    _remove_other_generations(run_dir, g)
    return g


def checkpoint_bytes(tensors: dict, meta: dict) -> bytes:
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return save(tensors, metadata={"meta": json.dumps(meta, default=json_default)})


def link_fixed_names(run_dir: Path, generation: int) -> None:
    """Point ``best.safetensors``/``item_embeddings.npy``/``item_ids.json`` at a generation."""
    sources = generation_files(run_dir, generation)
    for src, name in zip(sources, (BEST, EMBEDDINGS, ITEM_IDS), strict=True):
        dst = run_dir / name
        if not src.exists():
            continue  # vectors saved without a checkpoint: a best.safetensors saved apart stays
        if dst.exists() and os.path.samefile(src, dst):
            continue  # already linked (a rename onto the same file would leave tmp behind)
        tmp = run_dir / f".{name}.link.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links: a copy will do
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        tmp.unlink(missing_ok=True)
    fsync_dir(run_dir)


def _remove_other_generations(run_dir: Path, keep: int) -> None:
    kept = {p.name for p in generation_files(run_dir, keep)}
    for path in (run_dir / GENERATIONS).glob("*"):
        if path.name not in kept:
            path.unlink(missing_ok=True)


def sweep(run_dir: Path) -> None:
    """Clean up after a killed writer: temp files, uncommitted generations, stale fixed names."""
    sweep_temp(run_dir)
    if (run_dir / GENERATIONS).is_dir():
        sweep_temp(run_dir / GENERATIONS)
    current = manifest(run_dir)
    if current is None:
        return
    _remove_other_generations(run_dir, current["generation"])
    link_fixed_names(run_dir, current["generation"])


def remove(run_dir: Path) -> None:
    """Remove every generation, the manifest and the fixed names (a fresh start)."""
    (run_dir / MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(run_dir / GENERATIONS, ignore_errors=True)
    for name in (BEST, EMBEDDINGS, ITEM_IDS):
        (run_dir / name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- read


def load(run_dir: Path, tensors: bool = False, vectors: bool = True) -> Best | None:
    """The committed generation (or the fixed names without ``best.json``); None if incomplete.

    A newer generation may replace the files between reading ``best.json`` and opening them:
    then the manifest is read again.
    """
    for _ in range(5):
        current = manifest(run_dir)
        try:
            if current is None:
                return _read(run_dir, None, tensors, vectors)
            found = _read(run_dir, current["generation"], tensors, vectors)
        except FileNotFoundError:
            continue  # replaced meanwhile
        if manifest(run_dir) == current:
            return found
    return None


def _read(run_dir: Path, g: int | None, tensors: bool, vectors: bool) -> Best | None:
    """Generation ``g`` (None: the fixed names); there a missing file means "replaced meanwhile".

    A generation saved without a checkpoint takes a ``best.safetensors`` saved apart.
    """
    fixed = (run_dir / BEST, run_dir / EMBEDDINGS, run_dir / ITEM_IDS)
    ckpt, vec, id_file = fixed if g is None else generation_files(run_dir, g)
    if g is not None:
        for path in (id_file, vec) + ((ckpt,) if tensors else ()):
            if not path.exists() and (path is not ckpt or _has_checkpoint(ckpt)):
                raise FileNotFoundError(path)
    ids = read_json(id_file)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return None
    array = load_vectors(vec) if vectors else np.zeros((len(ids), 0), np.float32)
    if array is None or len(array) != len(ids):
        return None  # truncated, or (without best.json) caught between two writes
    found = Best(array, ids, generation=g)
    if tensors:
        in_generation = g is not None and _has_checkpoint(ckpt)
        loaded = load_checkpoint(ckpt if in_generation else fixed[0])
        if loaded is not None:
            found.tensors, found.meta = loaded
            if in_generation and found.meta.get("generation") != g:
                return None
    return found


def _has_checkpoint(ckpt: Path) -> bool:
    return bool(read_json_dict(ckpt.parents[1] / MANIFEST).get("checkpoint"))


def load_vectors(path: Path) -> np.ndarray | None:
    """A 2-D float array from ``path``; None when absent, truncated or of another shape."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError):
        return None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind != "f":
        return None
    return array


def load_checkpoint(path: Path) -> tuple[dict, dict] | None:
    """``(tensors, meta)`` of a safetensors file; None when absent or unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = _meta(fh.metadata())
            return {k: fh.get_tensor(k) for k in fh.keys()}, meta
    except (SafetensorError, OSError, ValueError):
        return None


def checkpoint_meta(path: Path) -> dict | None:
    """Only the metadata of a safetensors file (no tensors read); None when absent/unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return _meta(fh.metadata())
    except (SafetensorError, OSError, ValueError):
        return None


def _meta(raw: Any) -> dict:
    try:
        meta = json.loads((raw or {}).get("meta", "{}"))
    except (json.JSONDecodeError, TypeError):
        return {}
    return meta if isinstance(meta, dict) else {}
