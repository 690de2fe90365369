"""Secrets at rest and on the wire: scrypt password hashes, API tokens, session tokens.

- **Passwords** are hashed with ``hashlib.scrypt`` (memory-hard, so a stolen database is expensive to
  brute-force on GPUs), a random 16-byte salt per hash, and the parameters stored with the hash
  (``scrypt$n$r$p$salt$hash``, base64) so they can be raised later without invalidating old hashes.
  N=2**15, r=8, p=1 costs 32 MiB and tens of milliseconds per check, which is why verified credentials are
  remembered per worker for a few minutes (``_middleware.CredentialCache``).
- **API tokens** (``atk_<id>_<secret>``) carry 256 random bits: a plain SHA-256 of the secret is enough to
  store them (nothing to brute-force), and checking one per request costs microseconds. The id finds the
  row; the secret's hash is compared in constant time. A token is shown once, when it is created.
- **Session tokens** (the UI's cookie) are random too, stored as SHA-256 like API tokens.

Every comparison of a secret or of a hash derived from one goes through :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "check_password_policy",
    "hash_password",
    "hash_token",
    "new_session_token",
    "new_token",
    "parse_token",
    "verify_password",
    "verify_token",
]

#: MLflow's own policy (``_validate_password``): at least 12 characters.
MIN_PASSWORD_LENGTH = 12
#: Longest password accepted: scrypt takes any length, but an unbounded one is a cheap way to make the
#: server hash megabytes per request.
MAX_PASSWORD_LENGTH = 1024

_N, _R, _P = 2**15, 8, 1
_MAXMEM = 128 * 1024 * 1024
_DKLEN = 32
_SALT_BYTES = 16

TOKEN_PREFIX = "atk_"
_TOKEN = re.compile(r"^atk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check_password_policy(password: object) -> str:
    """``password`` if acceptable; MLflow's INVALID_PARAMETER_VALUE message otherwise."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise MlflowException(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters.", error_code=INVALID_PARAMETER_VALUE
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise MlflowException(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters.", error_code=INVALID_PARAMETER_VALUE
        )
    return password


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``, with its parameters."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=_DKLEN)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a :func:`hash_password` result); False for a malformed or
    unsupported hash, never an exception. Over-long passwords are refused before hashing."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def hash_token(secret: str) -> str:
    """How a token's (or a session's) random secret is stored: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A new API token: ``(token_id, full token to show once, hash of its secret to store)``."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secret}", hash_token(secret)


def parse_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed API token, else None."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def verify_token(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(secret), stored_hash)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)
