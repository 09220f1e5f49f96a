"""What one ``top-N`` training step costs: rows and token positions through the trainable layers.

Counted with forward hooks on a tiny BERT, not timed. A step must run each distinct item of its
batch once, padded within chunks of similar length, and the catalogue's size must not matter
(the full catalogue passes through the trainable layers only when the item table is refreshed,
in eval mode, at the end of an epoch).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.lm.config import FinetuneConfig
from recsys.lm.finetune import finetune
from recsys.lm.towers import TextTower
from tests.lm_fixtures import WORDS, tiny_encoder, tiny_model_dir

SHORT = [f"{a} {b} {c}" for a in WORDS[:8] for b in WORDS[8:16] for c in WORDS[16:24]]
LONG = " ".join(WORDS[:14])  # 14 words + [CLS] [SEP] = the encoder's max_length 16


def count_trainable(tower: TextTower, training_only: bool = False) -> list[tuple[int, int]]:
    """(rows, token positions) of every pass through the top trainable layer, appended live."""
    seen: list[tuple[int, int]] = []

    def hook(module, args, output):
        if training_only and not module.training:
            return
        hidden = args[0]
        seen.append((hidden.shape[0], hidden.shape[0] * hidden.shape[1]))

    tower.lm.encoder.layer[-1].register_forward_hook(hook)
    return seen


def catalogue(n_items: int) -> list[str]:
    return [LONG] + SHORT[: n_items - 1]


def test_a_batch_runs_its_distinct_items_once_whatever_the_catalogue_size(tmp_path):
    rng = np.random.default_rng(0)
    distinct = np.concatenate([[0], rng.choice(np.arange(1, 200), 127, replace=False)])
    items = torch.as_tensor(rng.permutation(np.concatenate([distinct, distinct])))  # B = 256
    found = {}
    for n_items in (200, 500):
        tower = TextTower(tiny_encoder(tmp_path), catalogue(n_items), n_train=1)
        seen = count_trainable(tower)
        vectors = tower(items)
        assert vectors.shape == (256, tower.lm.config.hidden_size)
        rows, positions = sum(r for r, _ in seen), sum(p for _, p in seen)
        lengths = tower.lengths[torch.as_tensor(distinct)]
        assert rows == len(distinct)  # not B = 256, not the catalogue
        # padded within chunks: far below B x the longest text (the old cost: 256 x 16 = 4096)
        assert positions <= int(lengths.sum()) + TextTower.CHUNK * int(lengths.max())
        found[n_items] = (rows, positions)
    assert found[200] == found[500]


def test_chunked_vectors_equal_each_item_encoded_alone(tmp_path):
    tower = TextTower(tiny_encoder(tmp_path), catalogue(150), n_train=1).eval()
    items = torch.as_tensor([5, 0, 149, 5, 70, 0, 3])
    with torch.no_grad():
        together = tower(items)
        alone = torch.cat([tower._encode(torch.as_tensor([i])) for i in items.tolist()])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def toy_train(n_items: int, n_users: int = 24) -> sp.csr_matrix:
    """Users like 4 of the first 12 items; every other item of the catalogue is cold."""
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n_users), 4)
    cols = np.concatenate([rng.choice(12, 4, replace=False) for _ in range(n_users)])
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


def test_training_steps_do_not_grow_with_the_catalogue(tmp_path, monkeypatch):
    towers: list[TextTower] = []
    real_init = TextTower.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.probe = count_trainable(self, training_only=True)  # steps only, not the refresh
        towers.append(self)

    monkeypatch.setattr(TextTower, "__init__", init)
    per_step = {}
    for n_items in (40, 400):
        cfg = FinetuneConfig(model=str(tiny_model_dir(tmp_path)), regime="top-1", epochs=1,
                             batch_size=16, dim=8, max_length=16, cache_dir=None, device="cpu",
                             max_steps=3, patience=100)  # fmt: skip
        texts = [f"red apple {WORDS[i]}" for i in range(12)] + SHORT[: n_items - 12]
        finetune(toy_train(n_items), texts, cfg)
        per_step[n_items] = [rows for rows, _ in towers[-1].probe]
    # three steps of 16 pairs over 12 liked items: at most 12 distinct rows each (the old code
    # ran all 16), and the same rows whatever the number of (cold) items in the catalogue
    assert len(per_step[40]) == 3 and all(rows <= 12 for rows in per_step[40])
    assert per_step[40] == per_step[400]


def test_the_cache_holds_the_hidden_states_after_the_frozen_layers(tmp_path):
    encoder = tiny_encoder(tmp_path)
    texts = catalogue(30)
    tower = TextTower(encoder, texts, n_train=1)
    assert len(tower.lm.encoder.layer) == 2  # the top layer is back after caching
    with torch.inference_mode():
        inputs = encoder.pad(tower.ids)
        full = tower.lm(**inputs, output_hidden_states=True).hidden_states[1]  # after layer 0
    for i, n in enumerate(tower.lengths.tolist()):
        torch.testing.assert_close(tower.cache[i, :n].float(), full[i, :n].half().float())
