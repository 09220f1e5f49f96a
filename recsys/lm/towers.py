"""The two towers of :mod:`recsys.lm.finetune`, and the trained model reduced to arrays.

* :class:`TextTower` — the language model over item text, trainable in its top N layers; the lower
  layers' outputs for the whole catalogue are computed once and cached.
* :class:`TwoTower` — projection (+ optional item-id embedding) over LM vectors for items, a
  linear map over the mean of history item vectors for users; both unit-normalised.
* :class:`FineTuned` — item vectors + user map as numpy arrays: what a recommender scores with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from recsys.lm.config import FinetuneConfig
from recsys.lm.encoder import Encoder, autocast, mean_pool


class TextTower(nn.Module):
    """LM over item text -> unit sentence vectors, training only the top ``n_train`` layers.

    Below those, hidden states of the whole catalogue are computed once and cached, so a training
    step runs only the trainable layers. ``n_train = None`` trains every layer from token ids.
    """

    def __init__(self, encoder: Encoder, texts: list[str], n_train: int | None) -> None:
        super().__init__()
        self.lm, self.encoder = encoder.model, encoder
        layers = self.lm.encoder.layer
        self.n_frozen = 0 if n_train is None else max(0, len(layers) - n_train)
        self.ids = encoder.tokenize(texts)
        self.lengths = torch.tensor([len(x) for x in self.ids])
        for p in self.lm.parameters():
            p.requires_grad = self.n_frozen == 0
        for layer in layers[self.n_frozen :]:
            for p in layer.parameters():
                p.requires_grad = True
        self.cache = self._cache_lower_layers() if self.n_frozen else None

    @torch.inference_mode()
    def _cache_lower_layers(self) -> torch.Tensor:
        """(I, T, H) hidden states after the frozen layers (fp16 on the CPU to halve memory)."""
        n, longest = len(self.ids), int(self.lengths.max())
        out = torch.zeros((n, longest, self.lm.config.hidden_size), dtype=torch.float16)
        self.lm.eval()
        every = self.lm.encoder.layer
        self.lm.encoder.layer = every[: self.n_frozen]  # the trainable layers' outputs: not cached
        try:
            with autocast(self.encoder.device):
                for batch in _chunks(np.argsort(-self.lengths.numpy(), kind="stable"), 256):
                    inputs = self.encoder.pad([self.ids[i] for i in batch])
                    states = self.lm(**inputs).last_hidden_state
                    out[batch, : states.shape[1]] = states.half().cpu()
        finally:
            self.lm.encoder.layer = every
        return out

    def trainable_prefixes(self) -> list[str]:
        if self.n_frozen == 0:
            return ["text.lm."]
        n = len(self.lm.encoder.layer)
        return [f"text.lm.encoder.layer.{i}." for i in range(self.n_frozen, n)]

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """(B,) item indices -> (B, H) unit vectors.

        Each distinct item runs through the trainable layers once (a batch of positives repeats
        popular items), in chunks of ``CHUNK`` items of similar token length, each padded to its
        own longest text: a batch costs about the sum of its distinct items' lengths, not
        B x the longest text in it (ml-latest-small: mean 15 tokens, longest 128).
        """
        unique, inverse = torch.unique(items.cpu(), return_inverse=True)
        order = torch.argsort(self.lengths[unique], stable=True)
        parts = [self._encode(unique[chunk]) for chunk in torch.split(order, self.CHUNK)]
        vectors = torch.cat(parts)[torch.argsort(order)]  # (U, H) back in ``unique`` order
        return vectors[inverse.to(vectors.device)]

    CHUNK = 64  # items per pass through the trainable layers

    def _encode(self, items: torch.Tensor) -> torch.Tensor:
        """(C,) distinct item indices (CPU) -> (C, H) unit vectors through the trainable layers."""
        device = self.encoder.device
        if self.cache is None:
            inputs = self.encoder.pad([self.ids[i] for i in items.tolist()])
            hidden = self.lm(**inputs).last_hidden_state  # (C, T, H)
            return F.normalize(mean_pool(hidden.float(), inputs["attention_mask"]), dim=-1)
        longest = int(self.lengths[items].max())
        hidden = self.cache[items, :longest].to(device).float()  # (C, T, H)
        mask = (torch.arange(longest)[None, :] < self.lengths[items][:, None]).to(device)
        additive = (~mask)[:, None, None, :].float() * torch.finfo(torch.float32).min  # (C,1,1,T)
        for layer in self.lm.encoder.layer[self.n_frozen :]:
            out = layer(hidden, additive)
            hidden = out[0] if isinstance(out, tuple) else out
        return F.normalize(mean_pool(hidden, mask.long()), dim=-1)

    @torch.no_grad()
    def encode_all(self, batch_size: int = 256) -> torch.Tensor:
        """(I, H) current vectors of the whole catalogue, in eval mode."""
        was = self.training
        self.eval()
        out = torch.zeros((len(self.ids), self.lm.config.hidden_size))
        with autocast(self.encoder.device):
            for batch in _chunks(np.argsort(-self.lengths.numpy(), kind="stable"), batch_size):
                out[batch] = self(torch.as_tensor(batch)).float().cpu()
        self.train(was)
        return out


class TwoTower(nn.Module):
    """Projection + id embeddings over LM vectors (items), a linear map over history (users)."""

    warm: torch.Tensor  # (I,) 1 for items with training positives (a buffer)

    def __init__(
        self, lm_dim: int, warm: np.ndarray, cfg: FinetuneConfig, text: TextTower | None = None
    ) -> None:
        super().__init__()
        dim = cfg.dim or lm_dim
        self.text = text
        self.proj = nn.Linear(lm_dim, dim) if cfg.dim else nn.Identity()
        self.ids = nn.Embedding(len(warm), dim) if cfg.id_embeddings else None
        if self.ids is not None:
            nn.init.zeros_(self.ids.weight)
        self.user = nn.Linear(dim, dim)
        nn.init.eye_(self.user.weight)
        nn.init.zeros_(self.user.bias)
        self.register_buffer("warm", torch.as_tensor(warm, dtype=torch.float32))
        self.id_dropout = cfg.id_dropout

    def items(self, base: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, H) LM vectors of ``items`` -> (B, D) unit item vectors."""
        h = self.proj(base)
        if self.ids is not None:
            keep = self.warm[items]
            if self.training and self.id_dropout:
                keep = keep * (torch.rand_like(keep) >= self.id_dropout)
            h = h + self.ids(items) * keep[:, None]
        return F.normalize(h, dim=-1)

    def users(self, history_mean: torch.Tensor) -> torch.Tensor:
        """(B, D) mean of history item vectors -> (B, D) unit user vectors."""
        return F.normalize(self.user(history_mean), dim=-1)

    def forward(
        self, base: torch.Tensor, items: torch.Tensor, hist: torch.Tensor, counts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training batch: (B,) positive ``items`` of users with (B, I) sparse history rows
        ``hist`` holding ``counts`` items each -> user vectors u (B, D), item vectors v (B, D)
        and the whole catalogue's history vectors (I, D). A module call, so DDP syncs it."""
        table = self.items(base, torch.arange(len(base), device=base.device))
        # the target leaves its own history: the model must predict it, not copy it
        summed = torch.sparse.mm(hist, table) - table[items]  # (B, D)
        u = self.users(summed / (counts - 1).clamp(min=1)[:, None].float())
        if self.text is not None:
            with autocast(base.device):
                text = self.text(items)  # (B, H) through the trainable LM layers
            v = self.items(text.float(), items)
        else:
            v = table[items]
        return u, v, table

    def trainable_state(self) -> dict[str, torch.Tensor]:
        prefixes = self.text.trainable_prefixes() if self.text is not None else []
        return {
            k: v
            for k, v in self.state_dict().items()
            if not k.startswith("text.") or any(k.startswith(p) for p in prefixes)
        }


@dataclass
class FineTuned:
    """A trained model reduced to arrays: item vectors and the user map."""

    item_vectors: np.ndarray  # (I, D) float32, unit rows
    user_weight: np.ndarray  # (D, D)
    user_bias: np.ndarray  # (D,)
    best_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    stopped: bool = False

    def user_vectors(self, history: sp.csr_matrix) -> np.ndarray:
        """(B, D) unit user vectors from (B, I) history rows (users never seen work too)."""
        counts = np.maximum(np.asarray(history.sum(axis=1)).ravel(), 1.0)[:, None]
        mean = np.asarray(history @ self.item_vectors) / counts  # (B, D)
        u = mean @ self.user_weight.T + self.user_bias
        return (u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-9)).astype(np.float32)

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return self.user_vectors(history) @ self.item_vectors.T  # (B, I)


def _chunks(order: np.ndarray, size: int) -> list[np.ndarray]:
    return [order[i : i + size] for i in range(0, len(order), size)]
