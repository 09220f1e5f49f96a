"""Every fine-tuning choice (:class:`FinetuneConfig`) and how a training regime resolves.

Below both :mod:`recsys.lm.towers` and :mod:`recsys.lm.finetune`, which read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Literal

import torch

from recsys.lm.encoder import DEFAULT_CACHE_DIR


@dataclass
class FinetuneConfig:
    """Every training choice, with defaults sized for ml-latest-small on a 2-core CPU."""

    model: str | None = None  # encoder: None = packaged MiniLM, a folder or a hub name
    regime: str = "auto"  # auto | full | top-N | adapter
    loss: Literal["softmax", "bce"] = "softmax"
    epochs: int = 8
    batch_size: int = 512
    lr: float = 2e-3  # projection, id embeddings, user map
    lm_lr: float = 3e-5  # transformer layers (full / top-N)
    weight_decay: float = 0.01
    warmup: float = 0.05  # share of all steps spent warming up
    dim: int = 256  # projection size; 0 = no projection (LM size)
    id_embeddings: bool = False  # text only measured better on ml-latest-small
    id_dropout: float = 0.5
    temperature: float = 0.05
    logq: float = 1.0  # weight of the log-popularity correction (softmax)
    negatives: int = 8  # sampled negatives per positive (bce)
    max_length: int = 128
    patience: int = 3  # epochs without validation gain before stopping
    grad_clip: float = 1.0
    select: tuple[str, ...] = ("recall@20", "tail_recall@20")  # summed to pick the best epoch
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    cache_dir: str | None = str(DEFAULT_CACHE_DIR)
    log_every: int = 10  # steps between progress records
    max_steps: int | None = None  # stop after this many steps in all (tests, quick benches)

    @classmethod
    def from_dict(cls, values: dict) -> FinetuneConfig:
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if "select" in kept:
            kept["select"] = tuple(kept["select"])
        return cls(**kept)


def resolve_regime(regime: str, device: torch.device) -> str:
    """``auto`` -> ``full`` on CUDA, ``adapter`` elsewhere; validates ``top-N``."""
    if regime == "auto":
        return "full" if device.type == "cuda" else "adapter"
    if regime in ("full", "adapter") or re.fullmatch(r"top-[1-9]\d*", regime):
        return regime
    raise ValueError(f"unknown regime {regime!r}; expected auto, full, adapter or top-N")
