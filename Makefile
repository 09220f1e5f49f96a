# Two commands for a new user: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run share test lint bench sample browser clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

# `make run` serves on 127.0.0.1 only. Sharing is explicit: `make share` (or LONGTAIL_SHARE=1 make
# run) binds 0.0.0.0 and refuses to start without a password (LONGTAIL_PASSWORD or
# .streamlit/secrets.toml) or an [auth] identity provider; README, "Safety".
run: $(BIN)/.installed
ifeq ($(LONGTAIL_SHARE),1)
	@$(MAKE) --no-print-directory share
else
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address 127.0.0.1
endif

share: $(BIN)/.installed
	LONGTAIL_SHARE=1 $(BIN)/python -m pages.auth
	LONGTAIL_SHARE=1 $(BIN)/streamlit run app.py --server.port $(PORT) --server.address 0.0.0.0

# Debian's chromium for the real-browser tests (never `playwright install`); skipped where apt is
# unavailable, and then the browser tests skip too, except under CI=true where they fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed: browser tests will skip (fail under CI=true)"; }

test: $(BIN)/.installed-dev browser
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: $(BIN)/.installed-dev
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/speed.py

sample: $(BIN)/.installed
	$(BIN)/python sample_data/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .cache
