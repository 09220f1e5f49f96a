"""The training loop's checkpoints in its run folder: save, resume from the last, the best back.

``last.safetensors`` holds the trainable tensors and the optimiser state, for resume;
``best.safetensors`` the trainable tensors of the best epoch. Both carry the loop's state (epoch,
step, best score, ...), the regime and the config as metadata (:meth:`RunFolder.save_checkpoint
<recsys.runs.folder.RunFolder.save_checkpoint>`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import torch

from recsys.lm.towers import FineTuned

if TYPE_CHECKING:
    from recsys.lm.finetune import _Trainer


def save(trainer: _Trainer, best: bool) -> None:
    """Write ``best`` (weights) or ``last`` (weights + optimiser state) to the run folder."""
    if trainer.run is None:
        return
    tensors = {f"model.{k}": v for k, v in trainer.model.trainable_state().items()}
    if not best:
        for i, group in enumerate(trainer.opt.param_groups):
            for j, p in enumerate(group["params"]):
                for key, value in trainer.opt.state.get(p, {}).items():
                    tensors[f"optim.{i}.{j}.{key}"] = torch.as_tensor(value).float()
    meta = {**{k: v for k, v in trainer.state.items()}, "regime": trainer.regime,
            "config": asdict(trainer.cfg)}  # fmt: skip
    trainer.run.save_checkpoint(tensors, meta, best=best)


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
