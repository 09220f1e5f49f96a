import pandas as pd

from pages import common


def test_csv_bytes_defuses_formulas_but_keeps_numbers():
    frame = pd.DataFrame(
        {"title": ['=HYPERLINK("x")', "plain", "@cmd", "-2+3"], "n": [1, -2, 3, 4]}
    )
    text = common.csv_bytes(frame).decode()
    assert "'=HYPERLINK" in text and "'@cmd" in text and "'-2+3" in text
    assert "plain" in text and "\n'plain" not in text
    assert ",-2\n" in text  # a negative number stays a number


def test_escape_makes_hover_text_inert():
    assert common.escape("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert common.escape("x" * 300, limit=10).endswith("…")
