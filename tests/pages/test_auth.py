"""Bound locally by default; shared only behind a password or an identity provider (issue 14, F1).

The gate runs at the top of ``app.py``: with sharing on, nothing but the login form renders until
the right password is given; wrong ones are refused, counted, and slowed down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pages import auth

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
PASSWORD = "correct horse battery"


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setenv(auth.SHARE_ENV, "1")
    monkeypatch.setenv(auth.PASSWORD_ENV, PASSWORD)
    st.cache_resource.clear()  # a fresh process-wide limiter
    yield
    st.cache_resource.clear()


def everything_shown(at: AppTest) -> str:
    kinds = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info")
    texts = [str(el.value) for kind in kinds for el in getattr(at, kind)]
    texts += [m.label for m in at.metric] + [str(t.value) for t in at.toast]
    return "\n".join(texts)


def log_in(at: AppTest, password: str) -> AppTest:
    at.text_input(key="auth_password").input(password)
    return at.button[0].click().run()


def test_config_binds_loopback_and_hides_tracebacks():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "type"


def test_make_run_binds_loopback_and_make_share_checks_first():
    def dry(*args: str, **env: str) -> str:
        environ = {k: v for k, v in os.environ.items() if k != auth.SHARE_ENV} | env
        out = subprocess.run(["make", "-n", *args], cwd=REPO, env=environ, capture_output=True)
        return out.stdout.decode()

    assert "--server.address 127.0.0.1" in dry("run") and "0.0.0.0" not in dry("run")
    for shared_run in (dry("share"), dry("run", LONGTAIL_SHARE="1")):
        check, serve = [line for line in shared_run.splitlines() if "LONGTAIL_SHARE=1" in line]
        assert "-m pages.auth" in check and "--server.address 0.0.0.0" in serve


@pytest.mark.skipif(
    any(p.exists() for p in auth.SECRETS_FILES), reason="a local secrets.toml sets a password"
)
def test_sharing_without_a_password_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != auth.PASSWORD_ENV}
    out = subprocess.run(
        [sys.executable, "-m", "pages.auth"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "sharing needs a password" in out.stderr and auth.PASSWORD_ENV in out.stderr


def test_share_problem_reads_env_then_secrets_and_wants_a_real_password():
    assert auth.share_problem({}, environ={}) is not None
    assert auth.share_problem({"password": "long enough"}, environ={}) is None
    assert "at least" in auth.share_problem({}, environ={auth.PASSWORD_ENV: "short"})
    assert auth.configured_password({"password": "from file"}, {auth.PASSWORD_ENV: "env"}) == "env"


def test_loopback_needs_no_login(monkeypatch):
    monkeypatch.delenv(auth.SHARE_ENV, raising=False)
    assert not auth.exposed("127.0.0.1", environ={}) and not auth.exposed("::1", environ={})
    assert auth.exposed("0.0.0.0", environ={}) and auth.exposed(None, environ={})
    assert auth.exposed("127.0.0.1", environ={auth.SHARE_ENV: "1"})


def test_shared_app_shows_only_the_gate_until_the_right_password(shared):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Long-Tail Lab"]
    assert len(at.text_input) == 1 and at.text_input[0].label == "Password"
    assert at.text_input[0].proto.type == at.text_input[0].proto.PASSWORD  # typed text masked
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")

    at = log_in(at, "wrong guess")
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not at.metric and "wrong guess" not in everything_shown(at)
    assert auth.limiter()._failures[auth.FailureLimiter.EVERYONE] == 1  # counted

    at = log_in(at, PASSWORD)
    assert not at.exception
    assert "Data" in [t.value for t in at.title]  # the default page renders
    assert [m.value for m in at.metric][:1]  # with its figures
    assert PASSWORD not in everything_shown(at)


def test_repeated_wrong_passwords_lock_the_session_out(shared):
    at = AppTest.from_file(APP, default_timeout=120).run()
    for _ in range(auth.limiter().free):
        at = log_in(at, "nope")
    at = log_in(at, PASSWORD)  # right, but too late: not even compared while locked
    assert any("Too many wrong passwords" in e.value for e in at.error)
    assert not at.metric


def test_limiter_is_per_session_and_global_with_growing_waits():
    now = [0.0]
    lim = auth.FailureLimiter(free=2, free_everyone=3, base_s=1.0, clock=lambda: now[0])
    assert lim.attempt("a", "x", "secret") == "wrong"
    assert lim.attempt("a", "x", "secret") == "wrong"
    assert lim.attempt("a", "secret", "secret") == "wait" and lim.wait_s("a") == 1.0
    now[0] = 1.0
    assert lim.attempt("a", "x", "secret") == "wrong" and lim.wait_s("a") == 2.0  # doubled
    assert lim.attempt("b", "secret", "secret") == "wait"  # three failures in all: everyone waits
    now[0] = 10.0
    assert lim.attempt("b", "secret", "secret") == "ok"


@pytest.mark.browser
def test_browser_shared_server_shows_the_gate_then_the_pages(browser, tmp_path, monkeypatch):
    from playwright.sync_api import expect

    from tests.browser import assert_no_exception, serve_app

    monkeypatch.setenv(auth.SHARE_ENV, "1")
    monkeypatch.setenv(auth.PASSWORD_ENV, PASSWORD)
    with serve_app(tmp_path) as url:
        pg = browser.new_page()
        pg.goto(f"{url}/recommendations")  # a page URL, straight away: still the gate
        field = pg.get_by_label("Password", exact=True)
        expect(field).to_be_visible(timeout=60_000)
        expect(pg.get_by_test_id("stSidebarNav")).to_have_count(0)  # no page list either
        expect(pg.get_by_text("Tail share · this list")).to_have_count(0)
        field.fill("not the password")
        pg.get_by_role("button", name="Log in").click()
        expect(pg.get_by_text("Wrong password.")).to_be_visible(timeout=60_000)
        field.fill(PASSWORD)
        pg.get_by_role("button", name="Log in").click()
        expect(pg.get_by_test_id("stSidebarNav").get_by_text("Explore")).to_be_visible(
            timeout=120_000
        )
        expect(pg.get_by_text(PASSWORD)).to_have_count(0)
        assert_no_exception(pg)
        pg.close()


def test_an_identity_provider_is_used_only_where_streamlit_can_run_it():
    from streamlit.auth_util import is_authlib_installed

    secrets = {"auth": {"client_id": "x", "client_secret": "y"}}
    assert auth.uses_identity_provider(secrets) and not auth.uses_identity_provider({})
    problem = auth.share_problem(secrets, environ={})
    assert (problem is None) if is_authlib_installed() else ("Authlib" in problem)
