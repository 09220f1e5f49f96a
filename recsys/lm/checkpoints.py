"""The training loop's checkpoints in its run folder: save, resume from the last, the best back.

``last.safetensors`` holds the trainable tensors and the optimiser state, for resume; the best
model (trainable tensors of the best epoch, with its item vectors) is committed as one generation
(:mod:`recsys.runs.best`). Both carry the loop's state (epoch, step, best score, ...), the regime,
the config and a **fingerprint** as metadata: the data (a hash of the training and validation
pairs), the item ids (a hash of the catalogue's ids in order) and every config field that changes
what is trained. Resuming a folder whose fingerprint differs is refused with :class:`RunMismatch`,
naming what differs, so reusing a run folder never continues someone else's run; ``--fresh``
(``resume=False``) starts over in it instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from recsys.lm.config import FinetuneConfig
from recsys.lm.towers import FineTuned
from recsys.runs.atomic import json_default

if TYPE_CHECKING:
    from recsys.lm.finetune import _Trainer
    from recsys.runs.folder import RunFolder

# Fields that do not change what a step computes: a resume may change them.
HARMLESS = ("epochs", "max_steps", "patience", "device", "threads", "cache_dir", "log_every")


class RunMismatch(ValueError):
    """The run folder holds a checkpoint of another run (other data, items or config)."""


def fingerprint(train: sp.spmatrix, validation: sp.spmatrix | None, item_ids,
                cfg: FinetuneConfig) -> dict:  # fmt: skip
    """What a checkpoint was trained on: data and item-id hashes, sizes, the config that counts."""
    n_items = train.shape[1]
    ids = [str(i) for i in (item_ids if item_ids is not None else range(n_items))]
    config = {k: v for k, v in asdict(cfg).items() if k not in HARMLESS}
    return {
        "data": _matrix_hash(train, validation),
        "items": hashlib.sha256("\0".join(ids).encode()).hexdigest(),
        "n_items": n_items,
        "n_users": train.shape[0],
        "n_train": int(train.nnz),
        "config": json.loads(json.dumps(config, default=json_default)),
    }


def _matrix_hash(*matrices: sp.spmatrix | None) -> str:
    digest = hashlib.sha256()
    for m in matrices:
        if m is None:
            digest.update(b"none")
            continue
        csr = sp.csr_matrix(m, copy=True)
        csr.sum_duplicates()
        csr.sort_indices()
        digest.update(np.asarray(csr.shape, np.int64).tobytes())
        digest.update(csr.indptr.astype(np.int64).tobytes())
        digest.update(csr.indices.astype(np.int64).tobytes())
    return digest.hexdigest()


def mismatch(saved: Any, current: dict) -> str | None:
    """What differs between a saved and the current fingerprint, in words; None if nothing."""
    if not isinstance(saved, dict):
        return "its checkpoint carries no fingerprint (written by an older version)"
    if saved.get("items") != current["items"]:
        return f"other items ({saved.get('n_items')} items there, {current['n_items']} here)"
    if saved.get("data") != current["data"]:
        return (f"other interactions ({saved.get('n_train')} training pairs of "
                f"{saved.get('n_users')} users there, {current['n_train']} of "
                f"{current['n_users']} here)")  # fmt: skip
    found = saved.get("config")
    old: dict = found if isinstance(found, dict) else {}
    changed = [k for k in current["config"] if old.get(k) != current["config"][k]]
    if changed:
        shown = ", ".join(f"{k} {old.get(k)!r} there, {current['config'][k]!r} here"
                          for k in changed[:3])  # fmt: skip
        return "another config: " + shown + (" ..." if len(changed) > 3 else "")
    return None


def check_resumable(run: RunFolder, current: dict) -> None:
    """RunMismatch when ``run`` holds a checkpoint, best model or config of another run."""
    found: list[tuple[str, Any]] = []
    last = run.checkpoint_meta()
    if last is not None:
        found.append(("last checkpoint", last.get("fingerprint")))
    from recsys.runs.best import manifest

    best = manifest(run.path)
    if best is not None and best.get("checkpoint"):
        found.append(("best model", best.get("fingerprint")))
    config = run.read_config()
    if "fingerprint" in config:
        found.append(("config.json", config["fingerprint"]))
    for where, saved in found:
        why = mismatch(saved, current)
        if why:
            raise RunMismatch(
                f"run folder {run.path} holds another run ({where}: {why}); not resumed — "
                "pass --fresh to start over in it, or pick another --run-dir"
            )


def save(trainer: _Trainer, best: bool) -> None:
    """Write ``last`` (weights + optimiser state) to the run folder; ``best=True`` commits the
    best model instead (weights + the last snapshot's item vectors, one generation)."""
    if trainer.run is None:
        return
    tensors = {f"model.{k}": v for k, v in trainer.model.trainable_state().items()}
    meta = {**{k: v for k, v in trainer.state.items()}, "regime": trainer.regime,
            "config": asdict(trainer.cfg), "fingerprint": trainer.fingerprint}  # fmt: skip
    if best:
        snap = trainer._best
        n = len(snap.item_vectors)
        ids = trainer.item_ids if trainer.item_ids is not None else range(n)
        trainer.run.save_best(tensors, meta, snap.item_vectors, ids)
        return
    for i, group in enumerate(trainer.opt.param_groups):
        for j, p in enumerate(group["params"]):
            for key, value in trainer.opt.state.get(p, {}).items():
                tensors[f"optim.{i}.{j}.{key}"] = torch.as_tensor(value).float()
    trainer.run.save_checkpoint(tensors, meta, best=False)


def resume(trainer: _Trainer) -> bool:
    """Load ``last`` into the trainer (weights, optimiser, state) and ``best`` as its best
    snapshot; False when the run folder holds no checkpoint yet."""
    found = trainer.run.load_checkpoint(best=False)
    if found is None:
        return False
    tensors, meta = found
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    trainer.model.load_state_dict(model_state, strict=False)
    for i, group in enumerate(trainer.opt.param_groups):
        for j, p in enumerate(group["params"]):
            state = {key.split(".")[-1]: v for key, v in tensors.items()
                     if key.startswith(f"optim.{i}.{j}.")}  # fmt: skip
            if state:
                state["step"] = state["step"].reshape(())
                trainer.opt.state[p] = {k: v.to(p.device) for k, v in state.items()}
    trainer.state.update({k: meta[k] for k in trainer.state if k in meta})
    if trainer.model.text is not None:
        trainer._item_vectors()  # history table of the resumed weights
    best = trainer.run.load_checkpoint(best=True)
    if best is not None:
        trainer._best = snapshot_from(trainer, best[0])
    return True


def snapshot_from(trainer: _Trainer, tensors: dict) -> FineTuned:
    """A checkpoint's model as arrays; the trainer's own weights are left as they were."""
    current = {k: v.clone() for k, v in trainer.model.trainable_state().items()}
    trainer.model.load_state_dict({k[6:]: v for k, v in tensors.items()}, strict=False)
    snap = trainer._snapshot()
    trainer.model.load_state_dict(current, strict=False)
    if trainer.model.text is not None:
        trainer._item_vectors()
    return snap


def load_run_tower(run_dir, item_ids) -> FineTuned:
    """A run's best fine-tuned two-tower model, rebuilt from its folder (no training).

    Item vectors (reordered to ``item_ids``) and the user map come from the one committed best
    generation, so they are always of the same epoch.

    Raises:
        ValueError: the run has no best model yet, or lacks some of the catalogue's items.
    """
    import pandas as pd

    from recsys.runs.folder import RunFolder

    folder = RunFolder(run_dir)
    best = folder.load_best()
    if best is None or best.tensors is None:
        raise ValueError(f"run {folder.path.name!r} has no item embeddings or best checkpoint yet")
    rows = pd.Index(best.ids).get_indexer(list(item_ids))
    if (rows < 0).any():
        raise ValueError(
            f"run {folder.path.name!r} has no vectors for {int((rows < 0).sum())} of this "
            "catalogue's items: it was trained on other data"
        )
    return FineTuned(
        item_vectors=np.ascontiguousarray(best.vectors[rows], dtype=np.float32),
        user_weight=best.tensors["model.user.weight"].float().numpy(),
        user_bias=best.tensors["model.user.bias"].float().numpy(),
    )
