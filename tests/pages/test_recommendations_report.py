"""The Recommendations page's report for uploaded data: files by name and hash, no server path."""

from __future__ import annotations

import hashlib
import html
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from recsys.data.sources import SAMPLE_DIR

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "recommendations.py")


def test_the_report_of_an_upload_names_the_files_not_the_upload_cache(tmp_path, downloads):
    made = downloads
    cache = tmp_path / "uploads"  # as common.save_upload stores them: by content hash
    cache.mkdir()
    paths, digests = {}, {}
    for role, src in (("interactions", "interactions.csv"), ("items", "items.csv")):
        data = (SAMPLE_DIR / src).read_bytes()
        digests[role] = hashlib.sha256(data).hexdigest()
        paths[role] = cache / f"{digests[role][:32]}.csv"
        shutil.copy(SAMPLE_DIR / src, paths[role])
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["data_source"] = {
        "kind": "upload",
        "name": "orders <2024>.csv",
        "interactions": str(paths["interactions"]),
        "items": str(paths["items"]),
        "mapping": {"user": "user_id", "item": "item_id"},
        "item_column": "item_id",
        "text_columns": ["title", "category", "style", "tags", "description"],
        "options": {"unknown_items": "error", "duplicates": "error"},
    }
    at.query_params["model"] = "blend"
    at.run()
    assert not at.exception and not at.error
    page = made[next(n for n in made if n.endswith(".html"))]().decode("utf-8")
    assert str(tmp_path) not in page and digests["items"][:32] not in page
    assert html.escape("orders <2024>.csv") in page and "<2024>" not in page
    assert "ITEMS_FILE.csv" in page  # the Data page does not keep the items file's own name
    for digest in digests.values():
        assert digest[:12] in page
    line = page[page.index('<section id="reproduce">') :]
    assert "--interactions &#x27;orders &lt;2024&gt;.csv&#x27; --items ITEMS_FILE.csv" in line
    assert "--map item=item_id --map user=user_id" in line
    assert "--item-col item_id" in line and "--unknown-items error" in line
