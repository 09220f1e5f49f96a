"""The Recommendations page's report for uploaded data: files by name and hash, no server path."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

from streamlit.testing.v1 import AppTest

from recsys.data.sources import SAMPLE_DIR

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "recommendations.py")
DATA_PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "data.py")
NAMES = {"interactions": "orders <2024>.csv", "items": "catalogue <v2>.csv"}


def uploaded_source(monkeypatch, cache: Path) -> dict:
    """The data source the Data page stores when both sample files are uploaded under
    :data:`NAMES` and the form is submitted as guessed (the upload cache is ``cache``)."""
    from pages import common

    monkeypatch.setattr(common, "UPLOAD_DIR", cache)
    at = AppTest.from_file(DATA_PAGE, default_timeout=120).run()
    at.radio(key="source_kind").set_value("upload").run()
    for widget, role in zip(at.file_uploader, ("interactions", "items"), strict=True):
        body = (SAMPLE_DIR / f"{role}.csv").read_bytes()
        widget.set_value((NAMES[role], body, "text/csv"))
    at.run()
    next(b for b in at.button if b.label == "Load upload").click().run()
    assert not at.exception and not at.error
    return dict(at.session_state["data_source"])


def test_the_data_page_keeps_both_uploaded_files_names(monkeypatch, tmp_path):
    source = uploaded_source(monkeypatch, tmp_path / "uploads")
    assert source["kind"] == "upload"
    assert source["name"] == NAMES["interactions"]
    assert source["items_name"] == NAMES["items"]  # the report names the catalogue by it
    assert Path(source["items"]).parent == tmp_path / "uploads"


def test_the_report_of_an_upload_names_the_files_not_the_upload_cache(
    monkeypatch, tmp_path, downloads
):
    made = downloads
    cache = tmp_path / "uploads"  # common.save_upload stores them by content hash
    source = uploaded_source(monkeypatch, cache)
    digests = {
        role: hashlib.sha256((SAMPLE_DIR / f"{role}.csv").read_bytes()).hexdigest()
        for role in NAMES
    }
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["data_source"] = source
    at.query_params["model"] = "blend"
    at.run()
    assert not at.exception and not at.error
    page = made[next(n for n in made if n.endswith(".html"))]().decode("utf-8")
    assert str(tmp_path) not in page and digests["items"][:32] not in page
    for name in NAMES.values():
        assert html.escape(name) in page and name not in page
    assert "ITEMS_FILE" not in page  # no placeholder: the Data page kept the name
    for digest in digests.values():
        assert digest[:12] in page
    line = page[page.index('<section id="reproduce">') :]
    assert (
        "--interactions &#x27;orders &lt;2024&gt;.csv&#x27; "
        "--items &#x27;catalogue &lt;v2&gt;.csv&#x27;" in line
    )
    maps = "--map item=item_id --map rating=rating --map timestamp=timestamp --map user=user_id"
    assert maps in line  # as the form guessed them from the header
    assert "--item-col item_id" in line and "--unknown-items error" in line
