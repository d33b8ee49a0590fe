"""OAuth2 access tokens for IMAP XOAUTH2 (Microsoft 365 and Gmail, where basic auth is switched off).

A token comes either from a command the admin configures (`oauth_token_command`: whatever their
identity setup already uses, e.g. a vault CLI or `oauth2l`) or, for Microsoft 365, from msal's
client-credentials flow. Either way it is cached and fetched again a margin before it expires, so a
long-running worker never presents a stale token mid-poll. A token is never logged: it only ever
lives in a `Token`, whose repr hides it, and in the one AUTHENTICATE literal imaplib never logs.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from triage.config import ConfigError, SourceConfig

Clock = Callable[[], float]


class OAuthError(RuntimeError):
    """No token could be obtained; the message says from where and why, never the token."""


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # on the provider's clock (time.monotonic by default)

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at:.0f}, value=***)"


class CachedTokenProvider:
    """Hands out one token until `margin` seconds before it expires, then fetches a new one."""

    def __init__(self, fetch: Callable[[float], Token], margin: float = 300.0, clock: Clock = time.monotonic) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()  # the IDLE waiter and a poll may both log in

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or self._token.expires_at - self._margin <= now:
                self._token = self._fetch(now)
            return self._token.value

    def invalidate(self) -> None:
        """The server refused the token (revoked early): the next `token()` fetches a fresh one."""
        with self._lock:
            self._token = None


def parse_token_output(out: str, now: float, default_lifetime: float) -> Token:
    """A bare token, or JSON with `access_token` and `expires_in` (what most token tools print)."""
    text = out.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise OAuthError(f"token command printed JSON that does not parse: {e.msg}") from None
        value = str(data.get("access_token") or "")
        lifetime = float(data.get("expires_in") or default_lifetime)
    else:
        value, lifetime = text, default_lifetime
    if not value or any(c.isspace() for c in value):
        raise OAuthError("token command printed no usable token (expected one token, or JSON with access_token)")
    return Token(value, now + lifetime)


def command_fetcher(command: str, default_lifetime: float, timeout: float = 60.0) -> Callable[[float], Token]:
    """Run the admin's command without a shell (no quoting surprises); its stdout is the token."""
    argv = shlex.split(command)

    def fetch(now: float) -> Token:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise OAuthError(f"token command {argv[0]!r} could not run: {type(e).__name__}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise OAuthError(f"token command {argv[0]!r} failed with exit status {done.returncode}: {last}")
        return parse_token_output(done.stdout, now, default_lifetime)

    return fetch


def _default_msal_app(tenant: str, client_id: str, secret: str) -> Any:
    try:
        import msal
    except ImportError:
        raise OAuthError("oauth_tenant is set but msal is not installed: pip install 'triage[m365]'") from None
    return msal.ConfidentialClientApplication(
        client_id, authority=f"https://login.microsoftonline.com/{tenant}", client_credential=secret)


def msal_fetcher(cfg: SourceConfig, app_factory: Callable[[str, str, str], Any] = _default_msal_app) -> Callable[[float], Token]:
    """Microsoft 365 client-credentials flow: the app registration's secret comes from an env var."""
    app: Any = None

    def fetch(now: float) -> Token:
        nonlocal app
        if app is None:
            secret = os.environ.get(cfg.oauth_client_secret_env or "")
            if not secret:
                raise OAuthError(f"environment variable {cfg.oauth_client_secret_env!r} "
                                 f"(sources.{cfg.name}.oauth_client_secret_env) is not set")
            app = app_factory(cfg.oauth_tenant, cfg.oauth_client_id, secret)
        result = app.acquire_token_for_client(scopes=[cfg.oauth_scope])
        if "access_token" not in result:
            raise OAuthError(f"Microsoft identity platform refused the token request: {result.get('error', 'unknown')}: "
                             f"{str(result.get('error_description', ''))[:200]}")
        return Token(result["access_token"], now + float(result.get("expires_in") or cfg.oauth_token_lifetime_seconds))

    return fetch


def token_provider_for(cfg: SourceConfig, clock: Clock = time.monotonic) -> CachedTokenProvider:
    if cfg.oauth_token_command:
        fetch = command_fetcher(cfg.oauth_token_command, cfg.oauth_token_lifetime_seconds)
    elif cfg.oauth_tenant and cfg.oauth_client_id:
        fetch = msal_fetcher(cfg)
    else:
        raise ConfigError(f"sources.{cfg.name}.auth = 'xoauth2' needs oauth_token_command, or oauth_tenant and "
                          "oauth_client_id (Microsoft 365)")
    return CachedTokenProvider(fetch, margin=cfg.oauth_refresh_margin_seconds, clock=clock)
