"""Page tests never start the app's background warm-up (it would fit models for minutes inside
the test process, or the browser tests' servers); the tests that need it set it up themselves."""

import os

import pytest

os.environ.setdefault("LONGTAIL_WARMUP", "0")


@pytest.fixture
def downloads(monkeypatch):
    """File name -> the callable that makes its bytes, for every download button a page draws."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    made = {}
    original = MediaFileManager.add_deferred

    def record(self, fn, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = fn
        return original(self, fn, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return made
