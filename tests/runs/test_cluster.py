"""Ray: a 2-worker cluster on loopback gives exactly the single-process encoding and lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.runs.cluster import check_address, shards
from tests.lm_fixtures import WORDS, tiny_model_dir

pytest.importorskip("ray")


@pytest.mark.parametrize("address", ["local:2", "auto", "ray://10.0.0.1:10001"])
def test_good_addresses_pass(address):
    assert check_address(address) == address


@pytest.mark.parametrize("address", ["local:0", "local:x", "localhost", "", "http://x"])
def test_bad_addresses_are_refused_with_the_accepted_forms(address):
    with pytest.raises(ValueError, match="expected local:N"):
        check_address(address)


def test_shards_cover_the_range_in_order_without_empties():
    for n, parts in [(5, 2), (2, 8), (1000, 7), (1, 1)]:
        got = shards(n, parts)
        assert [i for r in got for i in r] == list(range(n))
        assert len(got) == min(n, parts) and all(len(r) for r in got)


@pytest.fixture(scope="module")
def cluster():
    from recsys.runs.cluster import connect

    with connect("local:2"):
        yield


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(n)]


def test_cluster_encoding_equals_single_process(cluster, tmp_path):
    import torch

    from recsys.lm.encoder import Encoder
    from recsys.runs.cluster import encode_on_cluster

    model = tiny_model_dir(tmp_path)
    items = texts(300)
    before = torch.get_num_threads()
    try:
        single = Encoder(model, "cpu", 16, 32, cache_dir=None, threads=1).encode(items)
    finally:
        torch.set_num_threads(before)
    shard_dir = tmp_path / "shards"
    (shard_dir).mkdir()
    (shard_dir / "vectors-00009.parquet").write_bytes(b"stale")
    got = encode_on_cluster(items, model, max_length=16, batch_size=32, shard_dir=shard_dir)
    assert np.array_equal(got, single)
    written = sorted(p.name for p in shard_dir.iterdir())
    assert written == ["vectors-00000.parquet", "vectors-00001.parquet"]  # stale shard gone
    frame = pd.concat(pd.read_parquet(shard_dir / name) for name in written)
    assert sorted(frame["position"]) == list(range(len(items)))
    assert np.array_equal(np.vstack(frame.sort_values("position")["vector"]), single)


def test_cluster_scoring_equals_single_process(cluster, tmp_path):
    from recsys.cli import recommend_frame
    from recsys.data.index import Index
    from recsys.models import TrainData
    from recsys.models.ease import EASE
    from recsys.runs.cluster import score_on_cluster

    rng = np.random.default_rng(1)
    m = sp.csr_matrix((rng.random((400, 150)) < 0.06).astype(np.float32))
    model = EASE(50.0).fit(TrainData(m, ["x"] * 150))
    index = Index.build(
        pd.DataFrame({"user": [f"u{i}" for i in range(400)], "item": ["i0"] * 400}),
        pd.DataFrame({"item": [f"i{j}" for j in range(150)]}),
    )
    single = recommend_frame(model, index, m, m, 10)
    got = score_on_cluster(model, m, m, 10, batch=64, shard_dir=tmp_path / "recs")
    got = got.assign(user=index.user_ids[got["user"]], item=index.item_ids[got["item"]])
    cols = ["user", "item", "rank", "score"]
    pd.testing.assert_frame_equal(
        got[cols].reset_index(drop=True), single[cols].reset_index(drop=True)
    )
    assert len(list((tmp_path / "recs").glob("recs-*.parquet"))) == 2


@pytest.mark.parametrize("model, extra", [("ease", []), ("tfidf", ["--candidates", "cold"])])
def test_recommend_with_ray_writes_the_same_file(cluster, tmp_path, model, extra):
    from recsys.cli import main
    from tests.browser import REPO

    sample = REPO / "sample_data"
    args = ["recommend", "--interactions", str(sample / "interactions.csv"), "--items",
            str(sample / "items.csv"), "--user-col", "user_id", "--item-col", "item_id",
            "--model", model, "--k", "5", *extra]  # fmt: skip
    if extra:  # the sample has no cold item: hold some items' interactions out
        inter = pd.read_csv(sample / "interactions.csv")
        kept = inter[~inter["item_id"].isin(inter["item_id"].drop_duplicates().iloc[:40])]
        kept.to_csv(tmp_path / "inter.csv", index=False)
        args[2] = str(tmp_path / "inter.csv")
    assert main([*args, "--out", str(tmp_path / "single.csv")]) == 0
    assert main([*args, "--out", str(tmp_path / "ray.csv"), "--ray", "local:2"]) == 0
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "single.csv").read_bytes()
    assert len(list((tmp_path / "ray.csv.shards").glob("recs-*.parquet"))) == 2


def test_recommend_refuses_a_bad_ray_address_before_any_work(tmp_path, capsys):
    from recsys.cli import main

    args = ["recommend", "--interactions", "x.csv", "--items", "y.csv", "--user-col", "u",
            "--item-col", "i", "--out", str(tmp_path / "r.csv"), "--ray", "nowhere"]  # fmt: skip
    code = main(args)
    assert code == 2 and "expected local:N" in capsys.readouterr().err
