"""The hybrid's reserved long-tail slots, and the head rule it hands its LM part."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation.metrics import HEAD
from recsys.models import TrainData
from recsys.models.blend import Blend, Reserve, reserve_slots, reserved_count
from recsys.models.hybrid import Hybrid
from tests.lm_fixtures import tiny_model_dir

INF = np.inf


def _top(items, values):
    return np.array([items], dtype=np.int64), np.array([values], dtype=np.float32)


def test_reserve_slots_keeps_main_head_then_fill_without_duplicates():
    main = _top([5, 6, 7, 8, 9], [9, 8, 7, 6, 5])
    fill = _top([6, 1, 2, 3, 4], [4, 3, 2, 1, 0])  # 6 is already in main's top 3
    items, values = reserve_slots(main, fill, 2)
    assert items.tolist() == [[5, 6, 7, 1, 2]]
    assert values.tolist() == [[9, 8, 7, 3, 2]]  # each slot keeps its own list's score
    assert reserve_slots(main, fill, 0)[0].tolist() == [[5, 6, 7, 8, 9]]


def test_reserve_slots_falls_back_to_main_when_fill_runs_out():
    main = _top([5, 6, 7, 8], [9, 8, 7, 6])
    fill = _top([1, 5, 0, 2], [3, 2, -INF, -INF])  # one usable long-tail item
    items, values = reserve_slots(main, fill, 3)
    assert items.tolist() == [[5, 1, 6, 7]]  # main's next items fill what fill cannot
    short = reserve_slots(_top([5, 6, 0], [9, -INF, -INF]), _top([1, 0, 0], [3, -INF, -INF]), 2)
    assert short[0][0, :2].tolist() == [5, 1] and np.isneginf(short[1][0, 2])


def test_reserve_validates_and_counts():
    with pytest.raises(ValueError, match="reserve mode"):
        Reserve("sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share"):
        Reserve("fixed", share=1.5)
    assert reserved_count(0.15, 20) == 3 and reserved_count(0.15, 10) == 2
    with pytest.raises(ValueError, match="tuned"):
        Hybrid(blend=Blend(), reserve=Reserve("tuned"))


def _shop() -> TrainData:
    """60 users, 40 items: a popular head everyone shares and a long tail by taste."""
    rng = np.random.default_rng(0)
    rows, cols = [], []
    for u in range(60):
        taste = range(8, 24) if u < 30 else range(24, 40)
        for i in rng.choice(8, size=2, replace=False):
            rows.append(u), cols.append(int(i))
        for i in rng.choice(list(taste), size=3, replace=False):
            rows.append(u), cols.append(int(i))
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(60, 40))
    m.data[:] = 1.0
    text = ["pop hit"] * 8 + ["red apple song"] * 16 + ["blue sky film"] * 16
    return TrainData(m, text)


def test_fixed_reserve_gives_the_last_slots_to_long_tail_items():
    data = _shop()
    off = Hybrid(cf="ease", lm="tfidf", random_trials=10, max_accuracy_loss=0.0).fit(data)
    on = Hybrid(cf="ease", lm="tfidf", random_trials=10, max_accuracy_loss=0.0,
                reserve=Reserve("fixed", share=0.5)).fit(data)  # fmt: skip
    users = np.arange(60)
    top_off = off.recommend(users, 8)[0]
    top_on = on.recommend(users, 8)[0]
    groups = on.groups_
    head_share_off = (groups[top_off] == HEAD).mean()
    assert (groups[top_on[:, 4:]] != HEAD).all()  # 4 of 8 slots: tail or cold only
    main = off.blend_  # loss 0: the accurate blend, which keeps the first 4 slots
    assert on.main_blend_ == main
    np.testing.assert_array_equal(top_on[:, :4], top_off[:, :4])
    assert (groups[top_on] == HEAD).mean() < head_share_off
    assert "4 of every 20" not in on.describe() and "10 of every 20" in on.describe()
    for u in users:  # no item twice, nothing seen
        assert len(set(top_on[u])) == 8
        assert not set(top_on[u]) & set(data.matrix[u].indices)


def test_tuned_reserve_is_chosen_on_validation_under_the_accuracy_floor():
    data = _shop()
    model = Hybrid(cf="ease", lm="tfidf", random_trials=10, max_accuracy_loss=0.1,
                   reserve=Reserve("tuned", max_share=0.3)).fit(data)  # fmt: skip
    shares = sorted({t["share"] for t in model.reserve_trials_})
    assert shares == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    floor = (1 - 0.1) * model.accurate_[0]
    plain = model.measure_(model.blend_)
    if model.reserve_share_:
        pick = next(t for t in model.reserve_trials_ if t["share"] == model.reserve_share_
                    and model.fill_blend_ == (model.blend_ if t["fill"] == "tuned"
                                              else model.fill_blend_))  # fmt: skip
        assert pick["recall"] >= floor
        assert pick["long_tail"] >= plain[1] or plain[0] < floor
    else:  # no reserved list beat the tuned blend on validation
        assert all(t["long_tail"] <= plain[1] or t["recall"] < floor
                   for t in model.reserve_trials_)  # fmt: skip


def test_hybrid_hands_its_head_rule_to_a_band_debiased_lm(tmp_path, block_matrix):
    text = ["red apple song"] * 5 + ["blue sky film"] * 5 + ["red apple movie", "blue sky movie"]
    lm_params = dict(model=str(tiny_model_dir(tmp_path)), dim=16, epochs=1, cache_dir=None,
                     debias="band")  # fmt: skip
    model = Hybrid(lm_params=lm_params, holdout=0.25, random_trials=4, head_rule="threshold",
                   head_value=1).fit(TrainData(block_matrix, text))  # fmt: skip
    assert (model.groups_ == HEAD).sum() == 10  # every item with a positive is head
    assert model.lm_.head_rule == "threshold" and model.lm_.head_value == 1
    np.testing.assert_array_equal(model.lm_.groups_, model.groups_)
