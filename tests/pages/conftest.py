"""Page tests never start the app's background warm-up (it would fit models for minutes inside
the test process, or the browser tests' servers); the tests that need it set it up themselves."""

import os

os.environ.setdefault("LONGTAIL_WARMUP", "0")
