"""Language-model recommenders: the fine-tuned two-tower ``lm`` and the frozen-MiniLM anchors.

* ``lm``: :func:`recsys.lm.finetune.finetune` on the training positives; score = user vector . item
  vector, the user vector built from the user's history (so unseen users need no retraining).
* ``content``: no fine-tuning. Frozen MiniLM item vectors; the user profile is the mean of the
  history vectors (cosine to each item) or, with ``pooling="max"``, the best cosine to any one
  history item. This is the "frozen" column next to ``lm``'s "fine-tuned" one.
* ``ease_content``: EASE scores + gamma * cosine(mean profile, item) over the whole catalogue, the
  LLM-ESR-style extension rule (Liu et al. 2024, "LLM-ESR: Large Language Models Enhancement for
  Long-tailed Sequential Recommendation", NeurIPS); gamma is tuned on validation.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from recsys.data import popularity
from recsys.models.base import Recommender, TrainData, standardise


class LMRecommender(Recommender):
    """Fine-tuned two-tower model over item text (see :mod:`recsys.lm.finetune`).

    Keyword arguments are :class:`~recsys.lm.config.FinetuneConfig` fields (``regime``,
    ``epochs``, ``device``, ...). With ``run_dir`` the training is logged and checkpointed there.

    ``debias`` = alpha ranks by u.v / tau - alpha * log Q(i), Q = smoothed training share: with the
    logQ-corrected loss u.v / tau estimates log p(i | u) up to a constant, popularity included, so
    alpha = 1 ranks by pointwise mutual information (the user's lift for the item) and alpha = 0 by
    the plain conditional. Cold items count as seen zero times, so a large alpha fills lists with
    cold items and starves the tail. ``debias="band"`` is popularity-neutral instead: scores are
    z-standardised within each popularity band (head under ``head_rule`` / ``head_value``, the
    Data page's rule, by default the top 20% by training count; tail; cold), so each band's best
    items compete on one scale and take slots by how strongly the user's vector points at them,
    not by how popular their band is.
    """

    name = "lm"
    scores_cold_items = True
    param_grid: ClassVar[dict[str, list]] = {}

    def __init__(
        self,
        seed: int = 0,
        run_dir: str | Path | None = None,
        debias: float | Literal["band"] = 0.0,
        head_rule: popularity.Rule = "top_share",
        head_value: float | None = None,
        **config,
    ) -> None:
        """``head_rule`` / ``head_value`` (None: the rule's default) define the bands of
        ``debias="band"`` (:func:`recsys.data.popularity.head_mask`), as for the hybrid."""
        from recsys.lm.config import FinetuneConfig

        if isinstance(debias, str) and debias != "band":
            raise ValueError(f"debias must be a number or 'band', got {debias!r}")
        popularity.head_mask(np.zeros(1), head_rule, head_value)  # refuses an unknown rule
        self.config = FinetuneConfig(seed=seed, **config)
        self.run_dir, self.debias = run_dir, debias
        self.head_rule, self.head_value = head_rule, head_value

    def _fit(self, data: TrainData) -> None:
        from recsys.lm.finetune import finetune
        from recsys.runs.folder import RunFolder

        run = None
        if self.run_dir is not None:
            run = RunFolder(self.run_dir)
            run.create({**asdict(self.config), "source": "LMRecommender"})
        self.result_ = finetune(
            self.train_,
            data.item_text,
            self.config,
            validation=data.extras.get("validation"),
            run=run,
            item_ids=data.item_ids,
            resume=False,
        )

        counts = np.asarray(self.train_.sum(axis=0)).ravel()
        self.log_q_ = np.log((counts + 1.0) / (counts.sum() + len(counts))).astype(np.float32)
        self.groups_ = popularity.groups(counts.astype(np.int64), self.head_rule, self.head_value)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        logits = self.result_.score(history) / self.config.temperature
        if isinstance(self.debias, str):
            return band_neutral(logits, self.groups_)
        return logits - self.debias * self.log_q_[None, :] if self.debias else logits


class RunTower(Recommender):
    """A finished run's fine-tuned text tower, read from its folder: nothing is trained.

    ``fit`` checks that the run has vectors for every catalogue item and reads its best
    generation; scores are the two towers' dot products, as :class:`LMRecommender` ranks them.
    The run must have been trained on no more than the data this model is fitted on (``recsys
    train`` trains on the protocol's training minus validation), or the figures leak.
    """

    name = "run"
    scores_cold_items = True
    param_grid: ClassVar[dict[str, list]] = {}

    def __init__(self, run_dir: str | Path, seed: int = 0) -> None:
        self.run_dir, self.seed = run_dir, seed

    def _fit(self, data: TrainData) -> None:
        from recsys.lm.checkpoints import load_run_tower

        if data.item_ids is None:
            raise ValueError("a run's text tower needs the catalogue's item ids")
        self.tower_ = load_run_tower(self.run_dir, data.item_ids)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.tower_.score(history)


class ContentRecommender(Recommender):
    """Frozen LM content profile: cosine of the mean (or best) history vector to each item."""

    name = "content"
    scores_cold_items = True
    param_grid: ClassVar[dict[str, list]] = {"pooling": ["mean", "max"]}

    def __init__(
        self,
        pooling: Literal["mean", "max"] = "mean",
        model: str | None = None,
        device: str | None = None,
        cache_dir: str | None = None,
    ) -> None:
        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max', got {pooling!r}")
        self.pooling, self.model, self.device, self.cache_dir = pooling, model, device, cache_dir

    def _fit(self, data: TrainData) -> None:
        self.vectors_ = item_vectors(data.item_text, self.model, self.device, self.cache_dir)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        if self.pooling == "mean":
            return profile_cosine(history, self.vectors_)
        return _max_cosine(history.tocsr(), self.vectors_)


class EaseContent(Recommender):
    """EASE + ``gamma`` * cosine(mean content profile, item), over the whole catalogue."""

    name = "ease_content"
    scores_cold_items = True
    param_grid: ClassVar[dict[str, list]] = {"gamma": [0.0, 0.02, 0.05, 0.1, 0.2, 0.5]}

    def __init__(self, gamma: float = 0.05, lambda_: float = 350.0, cache_dir: str | None = None):
        self.gamma, self.lambda_, self.cache_dir = gamma, lambda_, cache_dir

    def _fit(self, data: TrainData) -> None:
        from recsys.models.ease import EASE

        self.ease_ = EASE(self.lambda_).fit(data)
        self.vectors_ = item_vectors(data.item_text, cache_dir=self.cache_dir)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        cf = self.ease_.score(users, history)
        return cf + self.gamma * profile_cosine(history, self.vectors_)


def band_neutral(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(B, I) scores z-standardised within each popularity band (see ``debias="band"``)."""
    return standardise(scores, groups)


def item_vectors(texts, model=None, device=None, cache_dir=None) -> np.ndarray:
    """(I, H) frozen unit vectors of ``texts`` from the (cached) encoder."""
    from recsys.lm.encoder import DEFAULT_CACHE_DIR, encode_items

    return encode_items(texts, model, device, cache_dir or DEFAULT_CACHE_DIR)


def profile_cosine(history: sp.csr_matrix, vectors: np.ndarray) -> np.ndarray:
    """(B, I) cosine between each user's mean history vector and every item vector."""
    profile = np.asarray(history @ vectors)  # (B, H)
    profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)
    return profile @ vectors.T


def _max_cosine(history: sp.csr_matrix, vectors: np.ndarray) -> np.ndarray:
    out = np.zeros((history.shape[0], len(vectors)), dtype=np.float32)
    for row in range(history.shape[0]):
        items = history.indices[history.indptr[row] : history.indptr[row + 1]]
        if len(items):
            out[row] = (vectors[items] @ vectors.T).max(axis=0)  # (I,)
    return out
