"""The stakeholder report: every section, honest figures, escaped data, opens offline."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from recsys.cli import main
from recsys.data.sources import load_sample
from recsys.report.analysis import Settings, analyse
from recsys.report.html import SECTIONS, render
from recsys.whatif import rerank

PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def hostile_analysis():
    """The sample with every title replaced by a script payload, at boost 0.3."""
    data = load_sample()
    items = data.items.copy()
    items["title"] = [f"{PAYLOAD} #{i}" for i in range(len(items))]
    data = dataclasses.replace(data, items=items, name="<b>shop</b>")
    return analyse(Settings(boost=0.3, strategy="target"), dataset=data)


@pytest.fixture(scope="module")
def report(hostile_analysis) -> str:
    return render(hostile_analysis)


def test_every_section_is_there(report):
    for key in SECTIONS:
        assert f'<section id="{key}">' in report
    assert report.count("Plotly.newPlot") == 2
    assert report.count("<h3>User ") == 3


def test_data_is_escaped_everywhere(report):
    assert "<script>window.__pwned" not in report
    assert "<img src=x" not in report and "&lt;img src=x onerror=&quot;" in report
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in report
    assert "<b>shop</b>" not in report and "&lt;b&gt;shop&lt;/b&gt;" in report


def test_kpis_are_the_reranked_lists_metrics(hostile_analysis):
    a = hostile_analysis
    kpis = a.kpis()
    assert len(kpis) == 4
    want = rerank.list_metrics(a.ranked.items, a.candidates, a.holdout, a.settings.k)
    row = kpis.iloc[0]
    assert row["Recall"] == want[f"recall@{a.settings.k}"]
    assert row["APLT"] == want[f"aplt@{a.settings.k}"]
    # The target strategy at boost 0.3 keeps >= floor(0.3 j) non-head items in every prefix, so
    # the boosted list holds more tail than the unboosted one.
    assert kpis.iloc[0]["APLT"] > kpis.iloc[1]["APLT"]


def test_example_users_are_distinct_typical_users_with_validation_items(hostile_analysis):
    a = hostile_analysis
    users = a.example_users()
    assert len(set(users)) == 3
    assert all(np.diff(a.holdout.indptr)[u] > 0 for u in users)
    named = dataclasses.replace(a, settings=dataclasses.replace(a.settings, users=("nobody",)))
    with pytest.raises(ValueError, match="unknown user"):
        named.example_users()


def test_reproduce_section_gives_the_command_and_the_url(report):
    assert "python -m recsys report --data sample --model blend --strategy target --boost 0.3" in (
        report
    )
    assert re.search(r"/recommendations\?model=blend&amp;strategy=target&amp;boost=0\.3", report)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--boost", "2"], "boost must lie in [0, 1]"),
        (["--boost", "nan"], "boost must lie in [0, 1]"),
        (["--k", "0"], "k must be at least 1"),
        (["--users", "no-such-user"], "unknown user"),
        (["--model", "hybrid_run:/no/such/run"], "no run folder"),
        (["--scope", "cold", "--model", "ease"], "cannot rank new items"),
    ],
)
def test_report_cli_refuses_bad_settings_in_one_line(tmp_path, capsys, args, words):
    assert main(["report", *args, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_cli_writes_the_file(tmp_path):
    out = tmp_path / "deep" / "report.html"
    assert main(["report", "--boost", "0.2", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.browser
def test_report_opens_offline_without_errors(page, report, tmp_path):
    from tests.browser import ARTIFACTS

    path = tmp_path / "report.html"
    path.write_text(report, encoding="utf-8")
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.context.route(
        re.compile(r"^(?!file:).*"),
        lambda route: (requests.append(route.request.url), route.abort()),
    )
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 2
    for key in SECTIONS:
        assert page.locator(f"section#{key}").count() == 1
    assert page.evaluate("window.__pwned") is None
    assert errors == [] and requests == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)


def test_report_of_uploaded_files_names_them_and_redoes_itself(tmp_path):
    """Regression: an upload's report pointed at the server's upload cache. It must name the
    files as uploaded, with their content hash, and its command must work on the reader's own
    copies once their paths are put in place of those names."""
    import hashlib
    import html
    import shlex
    import shutil

    from recsys.data.sources import SAMPLE_DIR

    server = tmp_path / "server-cache"
    server.mkdir()
    files = {
        "my ratings.csv": SAMPLE_DIR / "interactions.csv",
        "shop items.csv": SAMPLE_DIR / "items.csv",
    }
    for name, src in files.items():
        shutil.copy(src, server / name)
    out = tmp_path / "first.html"
    cols = "title,category,style,tags,description"
    args = ["report", "--interactions", str(server / "my ratings.csv"), "--items",
            str(server / "shop items.csv"), "--text-cols", cols, "--boost", "0.2"]  # fmt: skip
    assert main([*args, "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert str(tmp_path) not in page and "server-cache" not in page
    for name, src in files.items():
        assert html.escape(name) in page
        assert hashlib.sha256(src.read_bytes()).hexdigest()[:12] in page
    reproduce = page[page.index('<section id="reproduce">') :]
    assert "replace those names with the paths of your own copies" in reproduce
    line = html.unescape(re.search(r"<pre>(python -m recsys report .*?)</pre>", reproduce)[1])
    assert "--data" not in line and f"--text-cols {cols}" in line
    assert "--interactions 'my ratings.csv' --items 'shop items.csv'" in line

    mine = tmp_path / "reader"  # the reader's own copies, elsewhere
    mine.mkdir()
    redo = shlex.split(line)[3:]
    for name, src in files.items():
        shutil.copy(src, mine / name)
        redo[redo.index(name)] = str(mine / name)
    redo[redo.index("--out") + 1] = str(tmp_path / "second.html")
    assert main(redo) == 0
    again = (tmp_path / "second.html").read_text(encoding="utf-8")

    def kpis(text: str) -> str:
        return text[text.index('<section id="kpis">') : text.index('<section id="tradeoff">')]

    assert kpis(again) == kpis(page)


def test_report_cli_refuses_half_an_upload(tmp_path, capsys):
    assert main(["report", "--interactions", "x.csv", "--out", str(tmp_path / "r.html")]) == 2
    assert "--interactions and --items go together" in capsys.readouterr().err


def test_popularity_figure_is_thinned_exact_at_the_cut_and_skips_cold_items():
    """The Data page's and the report's curve: a million items must not become a million bars."""
    from recsys.data import popularity
    from recsys.report.html import popularity_figure

    counts = np.random.default_rng(0).zipf(1.5, 50_000).astype(np.int64)
    counts[:100] = 0  # cold items: no place on a log axis
    groups = popularity.groups(counts, "top_share", 0.2)
    fig = popularity_figure(counts, groups, max_points=500)
    (curve,) = fig.data
    warm = np.sort(counts[counts > 0])[::-1]
    x, y = np.asarray(curve.x), np.asarray(curve.y)
    assert len(x) <= 504 and x[0] == 1 and x[-1] == len(warm)
    assert (y == warm[x - 1]).all()
    n_head = int(np.sum(groups == popularity.HEAD))
    assert {n_head, n_head + 1} <= set(x.tolist())  # both sides of the cut are exact
    assert [s.x0 for s in fig.layout.shapes] == [n_head + 0.5]  # the head | tail line
    assert f"Gini {popularity.gini(counts):.3f}" in fig.layout.annotations[-1].text


@pytest.fixture(scope="module")
def sampled_analysis():
    """The sample's KPIs over a seeded 150 of its 887 judged users, TF-IDF against the baseline."""
    return analyse(Settings(model="tfidf", boost=0.2, sample_users=150, users=("U0001",)))


def test_a_sampled_analysis_scores_and_reports_only_its_users(sampled_analysis):
    a = sampled_analysis
    users = a.candidates.users
    u1 = a.user_ids.index("U0001")
    assert users is not None and len(users) == 151 and u1 in users  # 150 drawn + the one named
    assert a.baseline is not None and a.baseline.users.tolist() == users.tolist()
    want = rerank.list_metrics(
        a.ranked.items, dataclasses.replace(a.candidates, users=None), a.holdout[users], 10
    )
    assert a.kpis().iloc[0]["Recall"] == want["recall@10"]
    assert a.example_users() == [u1]
    default = dataclasses.replace(a, settings=dataclasses.replace(a.settings, users=()))
    assert set(default.example_users()) <= set(users.tolist())
    outside = next(u for u in range(len(a.user_ids)) if u not in users)
    with pytest.raises(ValueError, match="not in the analysis' user sample"):
        a.explain(outside)
    page = render(a)
    assert "over a seeded sample (seed 0) of the 151 users with validation items" in page
    assert "--sample-users 150" in page


def test_the_baseline_is_chosen_by_size():
    from recsys.models import memory
    from recsys.report.analysis import baseline_model

    data = load_sample()
    with memory.using(memory.MemoryBudget(50 << 20)):  # EASE needs 24 * 2000^2 = 96 MB
        a = analyse(Settings(model="tfidf", sample_users=100), dataset=data)
        assert baseline_model(a.experiment.tuning.train) == "itemknn"
    assert a.baseline_model == "itemknn"
    assert "ItemKNN (baseline), no boost" in a.kpis().index
    assert "ItemKNN (baseline)" in a.curves()
    assert "<td>ItemKNN</td>" in render(a) or ">ItemKNN<" in render(a)
    assert analyse(Settings(model="tfidf", sample_users=100), dataset=data).baseline_model == "ease"
