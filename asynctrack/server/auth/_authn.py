"""Who is asking: HTTP basic (username and password), bearer API tokens, and the UI's session cookie.

The REST store and MLflow's clients send ``Authorization: Basic`` from ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD``, or ``Authorization: Bearer`` from ``MLFLOW_TRACKING_TOKEN``; the web UI's
browser sends the session cookie set by its login page. A request carrying an ``Authorization`` header is
judged by it alone (a bad one is never rescued by a cookie).

A password check is scrypt: tens of milliseconds of CPU and 32 MiB, run in a worker thread (at most
:data:`MAX_CONCURRENT_HASHES` at once, so a burst of logins cannot exhaust memory). A client logging
thousands of batches would pay it per request, so each worker remembers credentials it verified for
:data:`CACHE_TTL` seconds, keyed by an HMAC of username and password under a per-process random key (the
password itself is never kept), together with the password hash it was checked against: a changed
password, admin flag or deleted user takes effect on the next request in every worker, because the row is
read on every request and must still carry that hash.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import anyio
import anyio.to_thread
from starlette.types import Scope

from asynctrack.server._hosts import header
from asynctrack.server.auth._secrets import (
    hash_password,
    hash_token,
    parse_token,
    verify_password,
    verify_token,
)
from asynctrack.server.auth._store import AuthStore, User

__all__ = ["SESSION_COOKIE", "Authenticator", "Principal", "cookie_value"]

SESSION_COOKIE = "asynctrack_session"
CACHE_TTL = 300.0
CACHE_SIZE = 10_000
MAX_CONCURRENT_HASHES = 2


@dataclass(frozen=True)
class Principal:
    """An authenticated user and how they proved it (``basic``, ``bearer`` or ``session``); ``csrf`` is the
    session's CSRF token (None unless ``via == "session"``)."""

    user: User
    via: str
    csrf: str | None = None


def cookie_value(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if raw is None:
        return None
    for part in raw.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


class _CredentialCache:
    """Bounded, expiring memory of verified (username, password) pairs, as HMACs."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._entries: collections.OrderedDict[bytes, tuple[str, float]] = collections.OrderedDict()

    def _digest(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    def hit(self, username: str, password: str, password_hash: str) -> bool:
        key = self._digest(username, password)
        entry = self._entries.get(key)
        if entry is None:
            return False
        stored_hash, expires = entry
        if expires < time.monotonic() or not hmac.compare_digest(stored_hash, password_hash):
            del self._entries[key]
            return False
        return True

    def remember(self, username: str, password: str, password_hash: str) -> None:
        key = self._digest(username, password)
        self._entries[key] = (password_hash, time.monotonic() + CACHE_TTL)
        self._entries.move_to_end(key)
        while len(self._entries) > CACHE_SIZE:
            self._entries.popitem(last=False)


class Authenticator:
    def __init__(self, store: AuthStore) -> None:
        self.store = store
        self._cache = _CredentialCache()
        self._hashing = anyio.CapacityLimiter(MAX_CONCURRENT_HASHES)
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    async def authenticate(self, scope: Scope) -> Principal | None:
        """The request's user, or None (no credentials, or wrong ones)."""
        authorization = header(scope, b"authorization")
        if authorization is not None:
            scheme, _, value = authorization.strip().partition(" ")
            scheme = scheme.lower()
            if scheme == "basic":
                return await self._basic(value.strip())
            if scheme == "bearer":
                return await self._bearer(value.strip())
            return None
        session = cookie_value(scope, SESSION_COOKIE)
        if session:
            return await self._session(session)
        return None

    async def check_password(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs (the login page and basic auth)."""
        user = await self.store.get_user(username)
        if user is None:
            # The same work as for a real user, so the time taken does not tell which names exist.
            await self._verify(password, self._dummy_hash)
            return None
        if self._cache.hit(username, password, user.password_hash):
            return user
        if not await self._verify(password, user.password_hash):
            return None
        self._cache.remember(username, password, user.password_hash)
        return user

    async def _verify(self, password: str, stored: str) -> bool:
        async with self._hashing:
            return await anyio.to_thread.run_sync(verify_password, password, stored)

    async def _basic(self, value: str) -> Principal | None:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            return None
        user = await self.check_password(username, password)
        return None if user is None else Principal(user, "basic")

    async def _bearer(self, value: str) -> Principal | None:
        parsed = parse_token(value)
        if parsed is None:
            return None
        token_id, secret = parsed
        found = await self.store.get_token(token_id)
        if found is None:
            hash_token(secret)  # keep the work similar whether or not the id exists
            return None
        user, stored_hash, expires_at = found
        if not verify_token(secret, stored_hash):
            return None
        if expires_at is not None and expires_at <= time.time() * 1000:
            return None
        return Principal(user, "bearer")

    async def _session(self, value: str) -> Principal | None:
        if len(value) > 128:
            return None
        found = await self.store.get_session(hash_token(value))
        if found is None:
            return None
        user, csrf, expires_at = found
        if expires_at <= time.time() * 1000:
            return None
        return Principal(user, "session", csrf)
