"""The memory budget (issue 14 F6, issue 15 item 2): parsing, refusals before allocating, routes
picked by size, and batching that does not change a single number."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import TrainData, memory
from recsys.models.base import exclude, top_k
from recsys.models.ease import EASE, pick_route
from recsys.models.hybrid import Hybrid, pick_collaborative
from recsys.models.itemknn import ItemKNN
from recsys.models.memory import MemoryBudget, MemoryBudgetError


def random_matrix(users: int, items: int, density: float, seed: int = 0) -> sp.csr_matrix:
    m = sp.random(users, items, density=density, format="csr", random_state=seed)
    m.data[:] = 1
    return m.astype(np.float32)


def words_text(n_items: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = ["red", "blue", "song", "film", "apple", "sky", "night", "river", "stone", "gold"]
    return [" ".join(rng.choice(vocab, size=4)) for _ in range(n_items)]


# --- parsing and the default -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4G", 4 << 30),
        ("4GB", 4 << 30),
        ("512M", 512 << 20),
        ("512mib", 512 << 20),
        ("2.5GiB", int(2.5 * (1 << 30))),
        ("1K", 1024),
        (" 100 ", 100),
        ("100B", 100),
        ("1T", 1 << 40),
    ],
)
def test_parse_sizes(text, expected):
    assert MemoryBudget.parse(text).bytes == expected


@pytest.mark.parametrize("text", ["", "lots", "4X", "-1G", "0", "0.0001K", "1e9", "G", "4 G B"])
def test_parse_refuses_bad_sizes_in_one_line(text):
    with pytest.raises(ValueError, match="memory budget") as info:
        MemoryBudget.parse(text)
    assert "\n" not in str(info.value)


def test_default_is_a_share_of_available_memory_and_env_overrides(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    monkeypatch.setattr(memory, "available_memory", lambda: 8 << 30)
    assert MemoryBudget.default().bytes == int(memory.DEFAULT_SHARE * (8 << 30))
    monkeypatch.setenv(memory.ENV, "3G")
    assert MemoryBudget.default() == MemoryBudget(3 << 30, f"${memory.ENV}")
    monkeypatch.setenv(memory.ENV, "plenty")
    with pytest.raises(ValueError, match=memory.ENV):
        MemoryBudget.default()


def test_available_memory_falls_back_without_proc_meminfo(monkeypatch):
    monkeypatch.setattr(memory, "_meminfo_available", lambda: None)
    monkeypatch.setattr(memory, "_cgroup_room", lambda: None)
    assert memory.available_memory() > 0
    monkeypatch.setattr(memory, "_cgroup_room", lambda: 12345)
    assert memory.available_memory() == 12345  # a cgroup limit caps what the host reports


def test_using_sets_and_restores_the_active_budget(monkeypatch):
    monkeypatch.setenv(memory.ENV, "2G")
    with memory.using(MemoryBudget(1000)) as inner:
        assert memory.active().bytes == 1000 == inner.bytes
    assert memory.active().bytes == 2 << 30


def test_rows_per_batch_scales_with_the_catalogue():
    budget = MemoryBudget(400 << 20)  # a quarter, 100 MiB, for one batch
    assert memory.rows_per_batch(1000, 4, 1, budget) == memory.MAX_ROWS
    assert memory.rows_per_batch(1_000_000, 4, 1, budget) == 26
    assert memory.rows_per_batch(1_000_000, 4, 10, budget) == 2
    assert memory.rows_per_batch(10**9, 8, 4, budget) == 1  # never 0


def test_check_names_model_size_bytes_and_an_alternative():
    with pytest.raises(MemoryBudgetError) as info:
        memory.check("ease", 3 << 30, memory.size(20_000, 50_000), "itemknn or als",
                     MemoryBudget(1 << 30))  # fmt: skip
    text = str(info.value)
    for words in ("'ease'", "20,000 users x 50,000 items", "3.0 GiB", "1.0 GiB", "itemknn or als"):
        assert words in text
    memory.check("ease", 1 << 30, "x", "y", MemoryBudget(1 << 30))  # exactly the budget: fits


# --- EASE ------------------------------------------------------------------------------------


def test_ease_refuses_before_allocating():
    m = random_matrix(3000, 3000, 0.0005)  # tiny data; either inverse needs 24 * 3000^2 bytes
    tracemalloc.start()
    try:
        with memory.using(MemoryBudget(10 << 20)), pytest.raises(MemoryBudgetError) as info:
            EASE().fit(TrainData(m, [""] * 3000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = str(info.value)
    for words in ("'ease'", "3,000 users x 3,000 items", "206.0 MiB", "10.0 MiB", "itemknn or als"):
        assert words in text
    assert peak < 5 << 20  # the 72 MB matrices were never allocated


def test_ease_picks_the_smaller_square_that_fits():
    big = MemoryBudget(1 << 40)
    assert pick_route(100, 5000, "auto", big) == "dual"
    assert pick_route(5000, 100, "auto", big) == "primal"
    with pytest.raises(MemoryBudgetError, match="primal route"):
        pick_route(100, 5000, "primal", MemoryBudget(100 << 20))  # 600 MB > 100 MiB


@pytest.mark.parametrize("shape", [(60, 90), (90, 60)])
def test_ease_dual_route_scores_as_the_primal(shape):
    m = random_matrix(*shape, 0.1, seed=1)
    data = TrainData(m, [""] * shape[1])
    users = np.arange(shape[0])
    primal = EASE(solver="primal").fit(data).score(users)
    dual = EASE(solver="dual").fit(data)
    np.testing.assert_allclose(dual.score(users), primal, atol=1e-6)
    with memory.using(MemoryBudget(200_000)):  # K X in chunks of users
        assert memory.rows_per_batch(shape[1], 12) < shape[0]
        chunked = EASE(solver="dual").fit(data).score(users)
    np.testing.assert_allclose(chunked, primal, atol=1e-6)


# --- ItemKNN ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2000, 3])
def test_itemknn_sparse_route_keeps_the_dense_route_neighbours(k):
    m = random_matrix(300, 1000, 0.01, seed=1)
    data = TrainData(m, [""] * 1000)
    dense = ItemKNN(k=k).fit(data)
    with memory.using(MemoryBudget(1 << 20)):  # a dense 1000 x 1000 float32 (4 MB) does not fit
        sparse = ItemKNN(k=k).fit(data)
    assert (dense.route_, sparse.route_) == ("dense", "sparse")
    assert sparse.sim_.nnz == dense.sim_.nnz
    # the same similarity values per item (ties at the k-th may keep other items)
    np.testing.assert_array_equal(
        np.sort(sparse.sim_.toarray(), axis=1), np.sort(dense.sim_.toarray(), axis=1)
    )
    if k >= 1000:  # no pruning: exactly the same matrix
        assert abs(sparse.sim_ - dense.sim_).max() == 0


def test_itemknn_refuses_when_its_neighbours_cannot_fit():
    m = random_matrix(300, 1000, 0.05, seed=1)
    with memory.using(MemoryBudget(50_000)), pytest.raises(MemoryBudgetError, match="smaller k"):
        ItemKNN().fit(TrainData(m, [""] * 1000))


# --- batching --------------------------------------------------------------------------------


def test_recommend_in_batches_equals_one_batch(block_matrix):
    model = EASE().fit(TrainData(block_matrix, [""] * block_matrix.shape[1]))
    users = np.arange(block_matrix.shape[0])
    scores = model.score(users)
    exclude(scores, block_matrix)
    expected = top_k(scores, 5)
    with memory.using(MemoryBudget(1000)):
        assert model.batch_rows() == 1
        got = model.recommend(users, 5)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


# --- the hybrid ------------------------------------------------------------------------------


def test_hybrid_blocked_tuning_equals_unblocked():
    m = random_matrix(120, 80, 0.12, seed=3)
    data = TrainData(m, words_text(80))

    def fit() -> Hybrid:
        return Hybrid(lm="tfidf", random_trials=30, holdout=0.2).fit(data)

    with memory.using(MemoryBudget(1 << 30)):
        whole = fit()
    with memory.using(MemoryBudget(200_000)):
        blocked = fit()
    assert whole.tune_blocks_ == 1 and blocked.tune_blocks_ > 5
    assert blocked.tune_users_ == whole.tune_users_  # no sampling: every held-out user
    assert blocked.cf_name_ == whole.cf_name_ == "ease"
    assert blocked.blend_ == whole.blend_
    assert blocked.random_trials_ == whole.random_trials_
    assert blocked.accurate_ == whole.accurate_
    users = np.arange(120)
    np.testing.assert_array_equal(blocked.score(users), whole.score(users))


def test_hybrid_falls_back_to_itemknn_and_says_so():
    m = random_matrix(300, 300, 0.02, seed=4)
    data = TrainData(m, words_text(300))
    budget = MemoryBudget(1 << 20)  # EASE needs 24 * 300^2 = 2.1 MB
    with memory.using(budget):
        assert pick_collaborative(m)[0] == "itemknn"
        model = Hybrid(lm="tfidf", random_trials=10, cf_params={"lambda_": 100.0}).fit(data)
        top, _ = model.recommend(np.arange(5), 10)
    assert model.cf_name_ == "itemknn" and type(model.cf_).__name__ == "ItemKNN"
    line = model.describe()
    assert "collaborative part itemknn" in line and "EASE would need 2.1 MiB" in line
    assert "sample of" in line  # 0.5 MiB holds the z-scores of 218 of the held-out users
    assert top.shape == (5, 10)


def test_hybrid_refuses_when_nothing_fits():
    m = random_matrix(300, 300, 0.05, seed=4)
    with memory.using(MemoryBudget(20_000)), pytest.raises(MemoryBudgetError) as info:
        pick_collaborative(m)
    assert "no collaborative part fits" in str(info.value) and "mostpop" in str(info.value)


# --- the command line ------------------------------------------------------------------------

SAMPLE = ["--interactions", "sample_data/interactions.csv", "--items", "sample_data/items.csv",
          "--user-col", "user_id", "--item-col", "item_id"]  # fmt: skip


def test_recommend_memory_budget_1k_refuses_in_one_line(tmp_path, capsys):
    from recsys.cli import main

    out = tmp_path / "recs.csv"
    assert main(["recommend", *SAMPLE, "--out", str(out), "--memory-budget", "1K"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: model 'ease'")
    assert "1,000 users x 2,000 items" in err and "1.0 KiB" in err and "itemknn or als" in err
    assert not out.exists()


def test_recommend_memory_budget_must_be_a_size(capsys):
    from recsys.cli import main

    with pytest.raises(SystemExit) as info:
        main(["recommend", *SAMPLE, "--out", "x.csv", "--memory-budget", "lots"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert "--memory-budget" in err and "expected a size such as 4G" in err


def test_recommend_hybrid_names_its_collaborative_part(tmp_path, capsys):
    from recsys.cli import main

    out = tmp_path / "recs.csv"
    argv = ["recommend", *SAMPLE, "--out", str(out), "--model", "hybrid", "--k", "5", "--param",
            "lm=tfidf", "--param", "random_trials=5", "--memory-budget", "20M"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "note: hybrid: collaborative part itemknn (EASE would need 91.6 MiB" in err
    assert len(out.read_text().splitlines()) == 1 + 5 * 1000
