"""``python -m recsys`` on tiny files written here: as a subprocess, as other tools run it, and
in-process through ``main`` where only the arguments matter (each subprocess costs ~2 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys.cli import COMMANDS, build_parser, main, parse_param, warn_unreadable
from recsys.models import MODELS

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recsys", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    """Six users in two taste blocks; u1 rated item 4 low (seen but not positive)."""
    rows = [(f"u{u}", i, 5) for u in range(6) for i in ((1, 2, 3) if u < 3 else (5, 6, 7))]
    rows.append(("u1", 4, 1))
    inter = pd.DataFrame(rows, columns=["userId", "movieId", "stars"])
    items = pd.DataFrame({"movieId": range(1, 9), "title": [f"film {i}" for i in range(1, 9)]})
    inter.to_csv(tmp_path / "train.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    return tmp_path / "train.csv", tmp_path / "items.csv"


def recommend_args(shop, out: Path, *extra: str) -> list[str]:
    inter, items = shop
    return [
        "recommend", "--interactions", str(inter), "--items", str(items),
        "--user-col", "userId", "--item-col", "movieId", "--out", str(out), *extra,
    ]  # fmt: skip


def test_recommend_writes_ranked_unseen_items_for_every_user(shop, tmp_path):
    out = tmp_path / "recs.csv"
    proc = run_cli(*recommend_args(shop, out, "--model", "ease", "--k", "3"))
    assert proc.returncode == 0, proc.stderr
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["userId", "movieId", "rank", "score"]
    assert sorted(recs["userId"].unique()) == [f"u{u}" for u in range(6)]
    train = pd.read_csv(shop[0])
    seen = set(zip(train["userId"], train["movieId"], strict=True))
    assert not seen & set(zip(recs["userId"], recs["movieId"], strict=True))
    for _, user in recs.groupby("userId"):
        assert user["rank"].tolist() == [1, 2, 3]
        assert user["score"].is_monotonic_decreasing


def test_rating_threshold_keeps_low_ratings_out_of_history_but_excluded(shop, tmp_path):
    out = tmp_path / "recs.csv"
    args = recommend_args(shop, out, "--model", "mostpop", "--rating-col", "stars")
    assert main([*args, "--threshold", "4", "--k", "10"]) == 0
    recs = pd.read_csv(out)
    assert 4 not in recs.loc[recs["userId"] == "u1", "movieId"].tolist()  # seen, though disliked
    assert len(recs[recs["userId"] == "u1"]) == 8 - 4  # a short catalogue gives a short list
    # Item 4's only rating is below the threshold, so for mostpop it has no positives.
    assert recs.loc[(recs["userId"] == "u0") & (recs["movieId"] == 4), "score"].item() == 0.0


def test_missing_file_is_exit_2_with_one_line(shop, tmp_path):
    proc = run_cli(*recommend_args((tmp_path / "nope.csv", shop[1]), tmp_path / "r.csv"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "nope.csv" in proc.stderr and "not found" in proc.stderr


def test_missing_column_is_exit_2_with_one_line(shop, tmp_path):
    args = recommend_args(shop, tmp_path / "r.csv")
    args[args.index("userId")] = "customer"
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "'customer'" in proc.stderr and "train.csv" in proc.stderr


@pytest.mark.parametrize(
    "extra, reason",
    [
        (["--model", "nope"], "invalid choice"),
        (["--rating-col", "stars"], "--rating-col and --threshold go together"),
        (["--k", "0"], "--k must be at least 1"),
        (["--param", "lambda_"], "expected NAME=VALUE"),
        (["--param", "bogus=1"], "model 'ease'"),
    ],
)
def test_bad_arguments_are_exit_2_with_one_line(shop, tmp_path, capsys, extra, reason):
    with pytest.raises(SystemExit) as stop:
        sys.exit(main(recommend_args(shop, tmp_path / "r.csv", *extra)))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and reason in err


def test_help_lists_every_model_by_name(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["recommend", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in MODELS)
    assert all(name in build_parser().format_help() for name in MODELS)


def test_evaluate_prints_a_table_and_writes_json(tmp_path, capsys):
    ml = tmp_path / "ml"
    ml.mkdir()
    rows = [(u, i, 5.0, 100 * u + t) for u in range(1, 13) for t, i in enumerate(range(1, 9))]
    rows = [(u, i + (10 if u % 2 else 0), r, ts) for u, i, r, ts in rows]
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        ml / "ratings.csv", index=False
    )
    movies = pd.DataFrame({"movieId": range(1, 21), "title": [f"m{i} (1999)" for i in range(20)]})
    movies.assign(genres="Drama").to_csv(ml / "movies.csv", index=False)
    pd.DataFrame([(1, 8, "sad", 5)], columns=["userId", "movieId", "tag", "timestamp"]).to_csv(
        ml / "tags.csv", index=False
    )
    out = tmp_path / "res.json"
    code = main([
        "evaluate", "--data", str(ml), "--split", "temporal", "--model", "mostpop",
        "--model", "itemknn", "--k", "5", "--k", "10", "--json", str(out),
    ])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| model | R@5 | N@5 | R@10 | N@10 |")
    assert [line.split(" | ")[0] for line in lines[2:4]] == ["| mostpop", "| itemknn"]
    assert any(line.startswith("| itemknn | cold |") for line in lines)  # per-band table
    saved = json.loads(out.read_text())
    assert [m["model"] for m in saved["models"]] == ["mostpop", "itemknn"]
    assert saved["protocol"]["ks"] == [5, 10] and saved["summary"]["users"] == 12


def test_evaluate_bad_data_path_is_exit_2(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "none"), "--model", "ease"]) == 2
    assert "error:" in capsys.readouterr().err


def test_commands_registry_builds_one_subcommand_each():
    actions = [a for a in build_parser()._actions if a.dest == "command"]
    assert len(actions) == 1 and set(actions[0].choices) >= {"evaluate", "recommend"}
    assert len(actions[0].choices) == len(COMMANDS)


def test_parse_param_reads_literals_and_strings():
    assert parse_param("lambda_=300") == ("lambda_", 300)
    assert parse_param("stop_words=english") == ("stop_words", "english")


# --- candidate scope (--candidates, --head-rule, --head-value) ----------------------------------


def test_recommend_cold_lists_only_items_without_any_interaction(shop, tmp_path):
    out = tmp_path / "cold.csv"
    assert main(recommend_args(shop, out, "--model", "tfidf", "--candidates", "cold")) == 0
    recs = pd.read_csv(out)
    # item 8 is the only one nobody interacted with (item 4's low rating is an interaction)
    assert set(recs["movieId"]) == {8} and recs["userId"].nunique() == 6


def test_recommend_tail_lists_none_of_the_head(shop, tmp_path):
    out = tmp_path / "tail.csv"
    args = ["--model", "ease", "--candidates", "tail", "--head-rule", "threshold",
            "--head-value", "3"]  # fmt: skip
    assert main(recommend_args(shop, out, *args)) == 0
    recs = pd.read_csv(out)
    assert len(recs) and set(recs["movieId"]) <= {4, 8}  # items 1-3, 5-7 have 3 interactions


def test_recommend_empty_cold_scope_is_exit_2_and_writes_nothing(shop, tmp_path, capsys):
    inter, items = shop
    pd.read_csv(items).query("movieId != 8").to_csv(items, index=False)  # every item interacted
    out = tmp_path / "cold.csv"
    assert main(recommend_args(shop, out, "--model", "tfidf", "--candidates", "cold")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scope 'cold' is empty" in err and not out.exists()


@pytest.mark.parametrize("model", ["mostpop", "itemknn", "ease", "als"])
def test_collaborative_models_refuse_cold_naming_a_text_model(shop, tmp_path, capsys, model):
    out = tmp_path / "r.csv"
    assert main(recommend_args(shop, out, "--model", model, "--candidates", "cold")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use a text model: tfidf, content" in err
    assert not out.exists()


def test_bad_head_value_is_exit_2(shop, tmp_path, capsys):
    args = ["--candidates", "tail", "--head-rule", "top_share", "--head-value", "20"]
    assert main(recommend_args(shop, tmp_path / "r.csv", *args)) == 2
    assert "share in (0, 1]" in capsys.readouterr().err


def test_evaluate_under_a_scope_says_so_in_the_header(tmp_path, capsys):
    ml = tmp_path / "ml"
    ml.mkdir()
    rows = [(u, i + (10 if u % 2 else 0), 5.0, 100 * u + i) for u in range(1, 13)
            for i in range(1, 9)]  # fmt: skip
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        ml / "ratings.csv", index=False
    )
    titles = [f"m{i} {'space' if i < 10 else 'love'} (1999)" for i in range(1, 21)]
    pd.DataFrame({"movieId": range(1, 21), "title": titles, "genres": "Drama"}).to_csv(
        ml / "movies.csv", index=False
    )
    args = ["evaluate", "--data", str(ml), "--split", "item_cold", "--model", "tfidf",
            "--k", "5", "--candidates", "cold"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Candidates: cold (new items: no training interaction)")
    assert "| R@5 (scope: cold, " in out
    assert main([*args, "--model", "ease"]) == 2
    assert "model 'ease' learns only from interactions" in capsys.readouterr().err


# --- text the encoder cannot read -------------------------------------------------------------

CHINESE = ["精致手工皮包", "独特手工艺品", "手工皮包", "真丝围巾 女款", "陶瓷茶杯套装"]


def test_unreadable_catalogue_warns_on_stderr_for_encoder_models(capsys):
    warn_unreadable(["ease", "content"], {}, CHINESE)
    err = capsys.readouterr().err
    assert err.startswith("warning: the encoder's vocabulary cannot read this catalogue: ")
    assert err.count("\n") == 1 and "[UNK]" in err and "multilingual model folder" in err
    warn_unreadable(["ease", "tfidf"], {}, CHINESE)  # no encoder: nothing to say
    warn_unreadable(["content"], {}, ["handmade leather bag", "silk scarf"])  # readable
    assert capsys.readouterr().err == ""


def test_recommend_tfidf_ranks_new_chinese_items_by_shared_characters(tmp_path):
    inter = pd.DataFrame({"user": ["a", "a", "b"], "sku": [1, 4, 2]})
    # the matching new item comes last, so a tie (no shared term) would pick sku 3 instead
    titles = [CHINESE[0], CHINESE[1], CHINESE[4], CHINESE[3], CHINESE[2]]
    items = pd.DataFrame({"sku": [1, 2, 3, 4, 5], "title": titles})
    inter.to_csv(tmp_path / "i.csv", index=False)
    items.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "r.csv"
    code = main([
        "recommend", "--interactions", str(tmp_path / "i.csv"), "--items", str(tmp_path / "c.csv"),
        "--user-col", "user", "--item-col", "sku", "--out", str(out), "--model", "tfidf",
        "--candidates", "cold", "--k", "1",
    ])  # fmt: skip
    assert code == 0
    recs = pd.read_csv(out).set_index("user")["sku"]
    assert recs["a"] == 5  # liked 精致手工皮包 -> 手工皮包, the new item sharing its characters


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--model", "ease", "--run", "{tmp}"], "--run is for --model hybrid, not ease"),
        (["--model", "hybrid", "--run", "{tmp}/missing"], "no such run folder"),
        (["--model", "hybrid", "--run", "{tmp}"], "has no best model yet"),
    ],
)
def test_run_option_is_checked_before_any_work(tmp_path, capsys, extra, words):
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    assert main(["evaluate", "--data", "sample", *extra]) == 2
    assert words in capsys.readouterr().err


def test_run_and_head_rule_become_the_hybrids_parameters(tmp_path):
    import argparse

    from recsys.cli import hybrid_params

    args = argparse.Namespace(run=None, head_rule="threshold", head_value=None)
    assert hybrid_params(args, ["hybrid"], {"lexical": 0.0}) == {
        "head_rule": "threshold", "head_value": 10, "lexical": 0.0}  # fmt: skip
    assert hybrid_params(args, ["ease"], {"lambda_": 3.0}) == {"lambda_": 3.0}


def test_recommend_hybrid_forced_onto_candidates_says_so_and_samples_users(shop, tmp_path):
    out = tmp_path / "recs.csv"
    extra = ["--model", "hybrid", "--param", "lm=tfidf", "--param", "random_trials=4", "--k", "2"]
    proc = run_cli(*recommend_args(shop, out, *extra, "--candidates-per-user", "5",
                                   "--users-sample", "3"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "collaborative part" in proc.stderr and "lists drawn from candidates" in proc.stderr
    assert "5 asked per user" in proc.stderr
    assert "a seeded sample of 3 of 6 users" in proc.stderr
    recs = pd.read_csv(out)
    assert recs["userId"].nunique() == 3
    train = pd.read_csv(shop[0])
    seen = set(zip(train["userId"], train["movieId"], strict=True))  # u1's low rating included
    assert not seen & set(zip(recs["userId"], recs["movieId"], strict=True))


def test_recommend_hybrid_below_the_threshold_scores_every_item(shop, tmp_path):
    proc = run_cli(*recommend_args(shop, tmp_path / "r.csv", "--model", "hybrid", "--param",
                                   "lm=tfidf", "--param", "random_trials=4"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "every item scored (no candidates at 8 items)" in proc.stderr


@pytest.mark.parametrize(
    "extra, reason",
    [
        (["--model", "ease", "--candidates-per-user", "50"], "is for --model hybrid"),
        (["--model", "hybrid", "--candidates-per-user", "3"], "0 (off) or at least 5"),
        (["--users-sample", "0"], "--users-sample must be at least 1"),
    ],
)
def test_bad_candidate_options_are_exit_2_with_one_line(shop, tmp_path, capsys, extra, reason):
    with pytest.raises(SystemExit) as stop:
        sys.exit(main(recommend_args(shop, tmp_path / "r.csv", *extra)))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and reason in err
