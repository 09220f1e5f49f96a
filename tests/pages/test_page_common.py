import io
import os

import pandas as pd
import pytest

from pages import common
from recsys.data.dataset import DataError


def test_csv_bytes_defuses_formulas_but_keeps_numbers():
    frame = pd.DataFrame(
        {"title": ['=HYPERLINK("x")', "plain", "@cmd", "-2+3"], "n": [1, -2, 3, 4]}
    )
    text = common.csv_bytes(frame).decode()
    assert "'=HYPERLINK" in text and "'@cmd" in text and "'-2+3" in text
    assert "plain" in text and "\n'plain" not in text
    assert ",-2\r\n" in text  # a negative number stays a number


def test_csv_bytes_defuses_every_non_numeric_cell_also_after_whitespace():
    risky = ["=1+1", "+1", "-x", "@SUM(A1)", "\tx", "\rx", " =1+1", "\n=1+1", "  @x"]
    frame = pd.DataFrame(
        {
            "text": risky,
            "category": pd.Series(risky, dtype="category"),
            "string": pd.Series(risky, dtype="string"),
            "mixed": [*risky[:-1], 7],
        }
    )
    back = pd.read_csv(io.BytesIO(common.csv_bytes(frame)), dtype=str, keep_default_na=False)
    for col in ("text", "category", "string"):
        assert all(v.startswith("'") for v in back[col]), (col, back[col].tolist())
    assert back["mixed"].iat[-1] == "7"  # a number in an object column stays a number
    when = pd.to_datetime(["2024-01-01"] * 2)
    numbers = pd.DataFrame({"n": [-2, 3], "x": [-0.5, 1.0], "when": when})
    assert common.csv_bytes(numbers).decode().splitlines()[1].startswith("-2,-0.5,")


def test_csv_bytes_keeps_missing_values_missing():
    frame = pd.DataFrame({"t": ["a", None], "n": [1, 2]})
    back = pd.read_csv(io.BytesIO(common.csv_bytes(frame)))
    assert back["t"].iat[0] == "a" and pd.isna(back["t"].iat[1])


def test_md_escapes_markdown_html_directives_and_latex():
    payloads = ("[x](https://e.example)", "![i](https://e.example/p.png)", "<b>x</b>",
                ":red[big]", ":material/home:", "$x^2$", "**b**", "`c`", "# h", "a|b")  # fmt: skip
    for payload in payloads:
        escaped = common.md(payload)
        assert all(f"\\{c}" in escaped for c in payload if c in "[]()<>:$*`#|!"), escaped
    assert common.md("a\n\nb" + "x" * 500, limit=20) == "a b" + "x" * 16 + "…"


def test_html_text_makes_hover_and_legend_text_inert():
    assert common.html_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert common.html_text('<a href="https://e.example">x</a>') == (
        "&lt;a href=&quot;https://e.example&quot;&gt;x&lt;/a&gt;"
    )
    assert common.html_text("x" * 300, limit=10).endswith("…")


def test_error_line_shows_our_message_but_only_the_type_of_a_bug():
    assert common.error_line(DataError("events.csv: no user column")) == (
        "events.csv: no user column"
    )
    line = common.error_line(KeyError(f"{common.REPO}/secret/path"))
    assert line.startswith("unexpected KeyError") and str(common.REPO) not in line


def test_uploads_are_capped_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "UPLOAD_DIR", tmp_path)
    monkeypatch.setenv("LONGTAIL_UPLOAD_CACHE_MB", str(2500 / 2**20))  # two 1,000-byte files fit
    first = common.save_upload("a.csv", b"a" * 1000)
    second = common.save_upload("b.csv", b"b" * 1000)
    os.utime(first, (1, 1))
    os.utime(second, (2, 2))
    assert common.save_upload("a.csv", b"a" * 1000) == first  # uploaded again: recently used
    third = common.save_upload("c.parquet", b"c" * 1000, keep=(first,))
    assert first.exists() and third.exists() and not second.exists()
    assert third.suffix == ".parquet" and len(third.stem) == 32  # named by content hash


def test_error_lines_name_no_server_folders():
    upload = common.UPLOAD_DIR / "0123abcd.csv"
    line = common.error_line(DataError(f"{upload}: cannot find a user column"))
    assert line == "upload 0123abcd.csv: cannot find a user column"
    line = common.error_line(OSError(f"[Errno 13] Permission denied: '{common.REPO}/runs/x'"))
    assert line == "[Errno 13] Permission denied: './runs/x'"


def test_upload_form_reads_columns_from_the_header_not_the_whole_file(tmp_path, monkeypatch):
    import streamlit as st

    from recsys.data import tables

    st.cache_data.clear()
    items = tmp_path / "items.csv"
    items.write_text("sku,title,price\n" + "".join(f"s{i},t {i},{i}\n" for i in range(5000)))
    monkeypatch.setattr(tables, "read_table", lambda *a, **k: pytest.fail("read every row"))
    assert common.upload_columns(str(items)) == ["sku", "title", "price"]
    assert common.text_columns_guess(str(items), "sku") == ["title"]  # known by its name


def test_text_columns_are_judged_by_value_only_when_no_name_says(tmp_path):
    import streamlit as st

    st.cache_data.clear()
    items = tmp_path / "items.csv"
    items.write_text("sku,blurb,price\ns1,red chair,3\ns2,blue desk,4\n")
    assert common.text_columns_guess(str(items), "sku") == ["blurb"]


def test_parsed_datasets_are_few_and_expire():
    info = common._load._info  # Streamlit's record of the cache's settings
    assert info.max_entries <= 4 and info.ttl == common.DATASET_TTL_S
