"""Who may use the dashboard: anyone on this machine, and only people who log in when shared.

On 127.0.0.1 (``make run``) nobody logs in: only this machine can reach the server. Served on any
other address (``make share``, or ``LONGTAIL_SHARE=1``), every session must log in first, with
either

- an identity provider, when ``.streamlit/secrets.toml`` has an ``[auth]`` section: Streamlit's own
  ``st.login`` / ``st.user`` (needs ``pip install Authlib``); an optional top-level
  ``allowed_emails = [...]`` list restricts who gets in; or
- the shared password from the ``LONGTAIL_PASSWORD`` environment variable or the ``password`` key
  of ``.streamlit/secrets.toml``. Wrong passwords are rate-limited per session and process-wide.

Without either, a shared dashboard refuses to show anything. ``python -m pages.auth`` runs the
same check before ``make share`` starts the server, and exits non-zero with the reason.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import streamlit as st

REPO = Path(__file__).resolve().parents[1]
SECRETS_FILES = (Path.home() / ".streamlit" / "secrets.toml", REPO / ".streamlit" / "secrets.toml")
PASSWORD_ENV = "LONGTAIL_PASSWORD"
SHARE_ENV = "LONGTAIL_SHARE"
MIN_PASSWORD_CHARS = 8
LOGGED_IN = "auth_logged_in"  # session state: this session gave the right password

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- what is configured


def is_loopback(address: str | None) -> bool:
    """Whether a ``server.address`` is reachable from this machine only (None: all interfaces)."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposed(address: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the server can be reached from other machines, so that users must log in."""
    return environ.get(SHARE_ENV) == "1" or not is_loopback(address)


def configured_password(secrets: Mapping[str, Any], environ: Mapping[str, str] = os.environ):
    """The shared password (environment first, then secrets.toml), or None when neither is set."""
    value = environ.get(PASSWORD_ENV) or secrets.get("password")
    return str(value) if value else None


def uses_identity_provider(secrets: Mapping[str, Any]) -> bool:
    return isinstance(secrets.get("auth"), Mapping)


def share_problem(secrets: Mapping[str, Any], environ: Mapping[str, str] = os.environ):
    """Why a shared dashboard cannot start (one line), or None when a way to log in is set."""
    if uses_identity_provider(secrets):
        from streamlit.auth_util import is_authlib_installed

        if not is_authlib_installed():
            return "[auth] is set in secrets.toml but Authlib is missing: pip install Authlib"
        return None
    password = configured_password(secrets, environ)
    if password is None:
        return (
            f"sharing needs a password: set the {PASSWORD_ENV} environment variable, or "
            'password = "..." in .streamlit/secrets.toml (see .streamlit/secrets.toml.example), '
            "or an [auth] identity provider there"
        )
    if len(password) < MIN_PASSWORD_CHARS:
        return f"the sharing password must have at least {MIN_PASSWORD_CHARS} characters"
    return None


def read_secrets_files(files=SECRETS_FILES) -> dict:
    """secrets.toml as Streamlit merges it (later files win), for use outside a running app."""
    merged: dict = {}
    for path in files:
        if path.is_file():
            with path.open("rb") as fh:
                merged.update(tomllib.load(fh))
    return merged


def _app_secrets() -> dict:
    """``st.secrets`` as a dict; an absent or unreadable secrets.toml counts as empty."""
    try:
        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001 - missing or malformed secrets: fail closed, below
        log.warning("could not read .streamlit/secrets.toml", exc_info=True)
        return {}


# --------------------------------------------------------------------------- rate limiting


class FailureLimiter:
    """Counts wrong passwords per session and process-wide; past a free allowance, each further
    failure doubles the wait before the next attempt (``base_s``, ``2·base_s``, … up to ``max_s``).

    The process-wide count stops an attacker who opens a new session for every guess.
    """

    EVERYONE = "*"

    def __init__(
        self,
        free: int = 5,
        free_everyone: int = 20,
        base_s: float = 1.0,
        max_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.free, self.free_everyone = free, free_everyone
        self.base_s, self.max_s, self.clock, self.max_keys = base_s, max_s, clock, max_keys
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def wait_s(self, key: str) -> float:
        """Seconds before ``key`` may try again (0: now)."""
        with self._lock:
            return self._wait(key)

    def attempt(self, key: str, typed: str, password: str) -> Literal["ok", "wrong", "wait"]:
        """Check one attempt; while ``key`` must wait, the password is not even compared."""
        with self._lock:
            if self._wait(key) > 0:
                return "wait"
            if hmac.compare_digest(typed.encode("utf-8"), password.encode("utf-8")):
                self._failures.pop(key, None)
                self._until.pop(key, None)
                return "ok"
            self._fail(key, self.free)
            self._fail(self.EVERYONE, self.free_everyone)
            return "wrong"

    def _wait(self, key: str) -> float:
        until = max(self._until.get(key, 0.0), self._until.get(self.EVERYONE, 0.0))
        return max(0.0, until - self.clock())

    def _fail(self, key: str, free: int) -> None:
        if key not in self._failures and len(self._failures) >= self.max_keys:
            oldest = next(k for k in self._failures if k != self.EVERYONE)
            self._failures.pop(oldest)
            self._until.pop(oldest, None)
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        if n >= free:
            self._until[key] = self.clock() + min(self.max_s, self.base_s * 2 ** (n - free))


@st.cache_resource(show_spinner=False)
def limiter() -> FailureLimiter:
    """One limiter for the whole server process, shared by every session."""
    return FailureLimiter()


# --------------------------------------------------------------------------- the gate


def require_login() -> None:
    """Stop the script unless this session may see the dashboard. ``app.py`` calls it first."""
    if st.session_state.get(LOGGED_IN) or not exposed(st.get_option("server.address")):
        return
    secrets = _app_secrets()
    problem = share_problem(secrets)
    if problem:
        _only_page(lambda: _refuse(problem))
    if uses_identity_provider(secrets):
        if st.user.is_logged_in and _allowed(secrets):
            return
        _only_page(lambda: _identity_gate())
    _only_page(lambda: _password_gate(configured_password(secrets)))


def _only_page(gate: Callable[[], None]) -> None:
    """Run ``gate`` as the app's only page, then stop: no page list, every page URL lands here."""
    st.navigation(
        [st.Page(gate, title="Log in", url_path="login", default=True)], position="hidden"
    ).run()
    st.stop()


def _refuse(problem: str) -> None:
    st.error(f"This dashboard is shared but cannot let anyone in: {problem}.")


def _allowed(secrets: Mapping[str, Any]) -> bool:
    allowed = secrets.get("allowed_emails")
    return not allowed or st.user.get("email") in allowed


def _identity_gate() -> None:
    st.title("Long-Tail Lab")
    if st.user.is_logged_in:  # but not on the allowed list
        st.error("This account may not use this dashboard. Log out and use another one.")
        st.button("Log out", on_click=st.logout)
    else:
        st.button("Log in", type="primary", on_click=st.login)


def _password_gate(password: str) -> None:
    st.title("Long-Tail Lab")
    with st.form("auth_login", clear_on_submit=True):
        typed = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        key = _session_key()
        outcome = limiter().attempt(key, typed or "", password)
        if outcome == "ok":
            st.session_state[LOGGED_IN] = True
            st.rerun()
        if outcome == "wait":
            wait = math.ceil(limiter().wait_s(key))
            st.error(f"Too many wrong passwords: try again in {wait} s.")
        else:
            st.error("Wrong password.")
    st.stop()


def _session_key() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def main() -> int:
    """``python -m pages.auth``: exit 2 with the reason when sharing has no way to log in."""
    try:
        secrets = read_secrets_files()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"make share: cannot read .streamlit/secrets.toml: {exc}", file=sys.stderr)
        return 2
    problem = share_problem(secrets)
    if problem:
        print(f"make share: {problem}", file=sys.stderr)
        return 2
    how = "identity provider ([auth])" if uses_identity_provider(secrets) else "password"
    print(f"make share: serving on every interface; users log in with the {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
