"""Where users, their API tokens, UI sessions, experiment and registered-model permissions live.

:class:`AuthStore` is the narrow interface the server and the CLI use; :class:`SqliteAuthStore` keeps it in
its own SQLite file (``--auth-db``, by default ``asynctrack-auth.db`` beside the tracking database), as
MLflow keeps ``basic_auth.db`` apart from its tracking database: password hashes never travel with a copy
of the experiment data, the tracking schema is unchanged, and a PostgreSQL store can implement the same
interface later. A file at that path that is not an asynctrack auth database is refused, never modified.

sqlite3 calls are blocking, so each runs in a worker thread (one connection per store, one call at a time)
and never on the event loop.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio.to_thread

from asynctrack.exceptions import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)

__all__ = ["AuthStore", "SqliteAuthStore", "Token", "User", "check_username", "no_model_permission"]

T = TypeVar("T")

_MARKER = "asynctrack_auth_meta"
_SCHEMA_VERSION = "1"
_SCHEMA = f"""
CREATE TABLE {_MARKER} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE experiment_permissions (
    experiment_id TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, experiment_id)
);
CREATE TABLE registered_model_permissions (
    name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE INDEX registered_model_permissions_name ON registered_model_permissions(name);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX sessions_user ON sessions(user_id);
INSERT INTO {_MARKER} VALUES ('schema_version', '{_SCHEMA_VERSION}');
"""
#: Added after schema version 1 (per-model grants): created where missing when a store opens, so an auth
#: database made before keeps working unchanged otherwise.
_MODEL_PERMISSIONS_DDL = """
CREATE TABLE IF NOT EXISTS registered_model_permissions (
    name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE INDEX IF NOT EXISTS registered_model_permissions_name ON registered_model_permissions(name);
"""
MAX_USERNAME_LENGTH = 256


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password_hash: str
    is_admin: bool

    def to_json(self) -> dict[str, object]:
        """MLflow's ``User.to_json()``: never the hash."""
        return {"id": self.id, "username": self.username, "is_admin": self.is_admin}


@dataclass(frozen=True)
class Token:
    id: str
    username: str
    name: str
    created_at: int
    expires_at: int | None


def check_username(username: object) -> str:
    """``username`` if usable; INVALID_PARAMETER_VALUE naming the rule otherwise. A ``:`` cannot travel in
    HTTP basic auth, and control characters have no place in a name shown in logs and tables."""
    if not isinstance(username, str) or username == "":
        raise MlflowException("Username cannot be empty.", error_code=INVALID_PARAMETER_VALUE)
    if len(username) > MAX_USERNAME_LENGTH or ":" in username or not username.isprintable():
        raise MlflowException(
            f"Invalid username {username!r}: at most {MAX_USERNAME_LENGTH} printable characters, no ':'.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return username


def _now_ms() -> int:
    return int(time.time() * 1000)


def _no_user(username: str) -> MlflowException:
    return MlflowException(f"User with username={username} not found", error_code=RESOURCE_DOES_NOT_EXIST)


class AuthStore(Protocol):
    """What authentication and authorization need from storage (all methods async)."""

    async def user_count(self) -> int: ...
    async def create_user(self, username: str, password_hash: str, is_admin: bool = False) -> User: ...
    async def get_user(self, username: str) -> User | None: ...
    async def list_users(self) -> list[User]: ...
    async def update_password(self, username: str, password_hash: str) -> None: ...
    async def update_admin(self, username: str, is_admin: bool) -> None: ...
    async def delete_user(self, username: str) -> None: ...
    async def get_permission(self, user_id: int, experiment_id: str) -> str | None: ...
    async def get_permissions(self, user_id: int, experiment_ids: list[str]) -> dict[str, str]: ...
    async def list_permissions(self, username: str) -> dict[str, str]: ...
    async def create_permission(self, username: str, experiment_id: str, permission: str) -> None: ...
    async def update_permission(self, username: str, experiment_id: str, permission: str) -> None: ...
    async def set_permission(self, username: str, experiment_id: str, permission: str) -> None: ...
    async def delete_permission(self, username: str, experiment_id: str) -> None: ...
    async def get_model_permission(self, user_id: int, name: str) -> str | None: ...
    async def list_model_permissions(self, username: str) -> dict[str, str]: ...
    async def create_model_permission(self, username: str, name: str, permission: str) -> None: ...
    async def update_model_permission(self, username: str, name: str, permission: str) -> None: ...
    async def set_model_permission(self, username: str, name: str, permission: str) -> None: ...
    async def delete_model_permission(self, username: str, name: str) -> None: ...
    async def wipe_model_permissions(self, name: str) -> None: ...
    async def rename_model_permissions(self, name: str, new_name: str) -> None: ...
    async def create_token(
        self, username: str, token_id: str, name: str, secret_hash: str, expires_at: int | None
    ) -> Token: ...
    async def get_token(self, token_id: str) -> tuple[User, str, int | None] | None: ...
    async def list_tokens(self, username: str) -> list[Token]: ...
    async def delete_token(self, username: str, token_id: str) -> None: ...
    async def create_session(
        self, secret_hash: str, user_id: int, csrf_token: str, expires_at: int
    ) -> None: ...
    async def get_session(self, secret_hash: str) -> tuple[User, str, int] | None: ...
    async def delete_session(self, secret_hash: str) -> None: ...
    async def aclose(self) -> None: ...


class SqliteAuthStore:
    """:class:`AuthStore` in a SQLite file of its own."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        _ensure_database(self.path)
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_MODEL_PERMISSIONS_DDL)
        with contextlib.suppress(sqlite3.OperationalError):  # another process may hold a lock right now
            self._db.execute("PRAGMA journal_mode = WAL")
        self._lock = threading.Lock()

    # -- plumbing

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """``fn(connection)`` in a transaction in a worker thread: ``BEGIN IMMEDIATE`` for writes (the
        write lock up front, so no upgrade can fail), a plain ``BEGIN`` for reads (WAL: never blocked by a
        writer)."""

        def call() -> T:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = fn(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result

        return await anyio.to_thread.run_sync(call)

    @staticmethod
    def _user_id(db: sqlite3.Connection, username: str) -> int:
        row = db.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise _no_user(username)
        return int(row[0])

    @staticmethod
    def _user(row: tuple[object, ...] | None) -> User | None:
        if row is None:
            return None
        return User(int(row[0]), str(row[1]), str(row[2]), bool(row[3]))  # type: ignore[call-overload]

    # -- users

    async def user_count(self) -> int:
        return await self._run(
            lambda db: int(db.execute("SELECT count(*) FROM users").fetchone()[0]), write=False
        )

    async def create_user(self, username: str, password_hash: str, is_admin: bool = False) -> User:
        check_username(username)

        def go(db: sqlite3.Connection) -> User:
            try:
                cur = db.execute(
                    "INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?)",
                    (username, password_hash, int(is_admin), _now_ms()),
                )
            except sqlite3.IntegrityError:
                raise MlflowException(
                    f"User (username={username}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
                ) from None
            return User(int(cur.lastrowid or 0), username, password_hash, is_admin)

        return await self._run(go)

    async def get_user(self, username: str) -> User | None:
        return await self._run(
            lambda db: self._user(
                db.execute(
                    "SELECT id, username, password_hash, is_admin FROM users WHERE username = ?", (username,)
                ).fetchone()
            ),
            write=False,
        )

    async def list_users(self) -> list[User]:
        def go(db: sqlite3.Connection) -> list[User]:
            rows = db.execute("SELECT id, username, password_hash, is_admin FROM users ORDER BY username")
            return [u for u in map(self._user, rows) if u is not None]

        return await self._run(go, write=False)

    async def update_password(self, username: str, password_hash: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            user_id = self._user_id(db, username)
            db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))  # sign out everywhere

        await self._run(go)

    async def update_admin(self, username: str, is_admin: bool) -> None:
        def go(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE users SET is_admin = ? WHERE id = ?", (int(is_admin), self._user_id(db, username))
            )

        await self._run(go)

    async def delete_user(self, username: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM users WHERE id = ?", (self._user_id(db, username),))
        )

    # -- experiment permissions

    async def get_permission(self, user_id: int, experiment_id: str) -> str | None:
        def go(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT permission FROM experiment_permissions WHERE user_id = ? AND experiment_id = ?",
                (user_id, experiment_id),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(go, write=False)

    async def get_permissions(self, user_id: int, experiment_ids: list[str]) -> dict[str, str]:
        def go(db: sqlite3.Connection) -> dict[str, str]:
            out: dict[str, str] = {}
            for i in range(0, len(experiment_ids), 500):
                chunk = experiment_ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT experiment_id, permission FROM experiment_permissions "
                    f"WHERE user_id = ? AND experiment_id IN ({marks})",
                    (user_id, *chunk),
                )
                out.update((str(e), str(p)) for e, p in rows)
            return out

        return await self._run(go, write=False)

    async def list_permissions(self, username: str) -> dict[str, str]:
        def go(db: sqlite3.Connection) -> dict[str, str]:
            rows = db.execute(
                "SELECT experiment_id, permission FROM experiment_permissions WHERE user_id = ? "
                "ORDER BY experiment_id",
                (self._user_id(db, username),),
            )
            return {str(e): str(p) for e, p in rows}

        return await self._run(go, write=False)

    async def create_permission(self, username: str, experiment_id: str, permission: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO experiment_permissions (experiment_id, user_id, permission) "
                    "VALUES (?, ?, ?)",
                    (experiment_id, self._user_id(db, username), permission),
                )
            except sqlite3.IntegrityError:
                raise MlflowException(
                    f"Experiment permission (experiment_id={experiment_id}, username={username}) already "
                    "exists.",
                    error_code=RESOURCE_ALREADY_EXISTS,
                ) from None

        await self._run(go)

    async def update_permission(self, username: str, experiment_id: str, permission: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "UPDATE experiment_permissions SET permission = ? WHERE user_id = ? AND experiment_id = ?",
                (permission, self._user_id(db, username), experiment_id),
            )
            if cur.rowcount == 0:
                raise _no_permission(experiment_id, username)

        await self._run(go)

    async def set_permission(self, username: str, experiment_id: str, permission: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO experiment_permissions (experiment_id, user_id, permission) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, experiment_id) DO UPDATE SET permission = excluded.permission",
                (experiment_id, self._user_id(db, username), permission),
            )

        await self._run(go)

    async def delete_permission(self, username: str, experiment_id: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "DELETE FROM experiment_permissions WHERE user_id = ? AND experiment_id = ?",
                (self._user_id(db, username), experiment_id),
            )
            if cur.rowcount == 0:
                raise _no_permission(experiment_id, username)

        await self._run(go)

    # -- registered-model permissions (MLflow's ``registered_model_permissions``, keyed by model name)

    async def get_model_permission(self, user_id: int, name: str) -> str | None:
        def go(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT permission FROM registered_model_permissions WHERE user_id = ? AND name = ?",
                (user_id, name),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(go, write=False)

    async def list_model_permissions(self, username: str) -> dict[str, str]:
        def go(db: sqlite3.Connection) -> dict[str, str]:
            rows = db.execute(
                "SELECT name, permission FROM registered_model_permissions WHERE user_id = ? ORDER BY name",
                (self._user_id(db, username),),
            )
            return {str(n): str(p) for n, p in rows}

        return await self._run(go, write=False)

    async def create_model_permission(self, username: str, name: str, permission: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO registered_model_permissions (name, user_id, permission) VALUES (?, ?, ?)",
                    (name, self._user_id(db, username), permission),
                )
            except sqlite3.IntegrityError:
                raise MlflowException(
                    f"Registered model permission (name={name}, username={username}) already exists.",
                    error_code=RESOURCE_ALREADY_EXISTS,
                ) from None

        await self._run(go)

    async def update_model_permission(self, username: str, name: str, permission: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "UPDATE registered_model_permissions SET permission = ? WHERE user_id = ? AND name = ?",
                (permission, self._user_id(db, username), name),
            )
            if cur.rowcount == 0:
                raise no_model_permission(name, username)

        await self._run(go)

    async def set_model_permission(self, username: str, name: str, permission: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO registered_model_permissions (name, user_id, permission) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, name) DO UPDATE SET permission = excluded.permission",
                (name, self._user_id(db, username), permission),
            )

        await self._run(go)

    async def delete_model_permission(self, username: str, name: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "DELETE FROM registered_model_permissions WHERE user_id = ? AND name = ?",
                (self._user_id(db, username), name),
            )
            if cur.rowcount == 0:
                raise no_model_permission(name, username)

        await self._run(go)

    async def wipe_model_permissions(self, name: str) -> None:
        """Every grant on the model (it was deleted: a new model of that name starts with none)."""
        await self._run(
            lambda db: db.execute("DELETE FROM registered_model_permissions WHERE name = ?", (name,))
        )

    async def rename_model_permissions(self, name: str, new_name: str) -> None:
        """The model's grants follow it to its new name."""
        await self._run(
            lambda db: db.execute(
                "UPDATE registered_model_permissions SET name = ? WHERE name = ?", (new_name, name)
            )
        )

    # -- API tokens

    async def create_token(
        self, username: str, token_id: str, name: str, secret_hash: str, expires_at: int | None
    ) -> Token:
        def go(db: sqlite3.Connection) -> Token:
            now = _now_ms()
            db.execute(
                "INSERT INTO tokens (id, user_id, name, secret_hash, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, self._user_id(db, username), name, secret_hash, now, expires_at),
            )
            return Token(token_id, username, name, now, expires_at)

        return await self._run(go)

    async def get_token(self, token_id: str) -> tuple[User, str, int | None] | None:
        def go(db: sqlite3.Connection) -> tuple[User, str, int | None] | None:
            row = db.execute(
                "SELECT u.id, u.username, u.password_hash, u.is_admin, t.secret_hash, t.expires_at "
                "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
                (token_id,),
            ).fetchone()
            if row is None:
                return None
            user = self._user(row[:4])
            assert user is not None
            return user, str(row[4]), None if row[5] is None else int(row[5])

        return await self._run(go, write=False)

    async def list_tokens(self, username: str) -> list[Token]:
        def go(db: sqlite3.Connection) -> list[Token]:
            rows = db.execute(
                "SELECT id, name, created_at, expires_at FROM tokens WHERE user_id = ? ORDER BY created_at",
                (self._user_id(db, username),),
            )
            return [
                Token(str(i), username, str(n), int(c), None if e is None else int(e)) for i, n, c, e in rows
            ]

        return await self._run(go, write=False)

    async def delete_token(self, username: str, token_id: str) -> None:
        def go(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "DELETE FROM tokens WHERE id = ? AND user_id = ?", (token_id, self._user_id(db, username))
            )
            if cur.rowcount == 0:
                raise MlflowException(
                    f"Token {token_id!r} of user {username!r} not found", error_code=RESOURCE_DOES_NOT_EXIST
                )

        await self._run(go)

    # -- UI sessions

    async def create_session(self, secret_hash: str, user_id: int, csrf_token: str, expires_at: int) -> None:
        def go(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (_now_ms(),))
            db.execute(
                "INSERT INTO sessions (secret_hash, user_id, csrf_token, expires_at) VALUES (?, ?, ?, ?)",
                (secret_hash, user_id, csrf_token, expires_at),
            )

        await self._run(go)

    async def get_session(self, secret_hash: str) -> tuple[User, str, int] | None:
        def go(db: sqlite3.Connection) -> tuple[User, str, int] | None:
            row = db.execute(
                "SELECT u.id, u.username, u.password_hash, u.is_admin, s.csrf_token, s.expires_at "
                "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = ?",
                (secret_hash,),
            ).fetchone()
            if row is None:
                return None
            user = self._user(row[:4])
            assert user is not None
            return user, str(row[4]), int(row[5])

        return await self._run(go, write=False)

    async def delete_session(self, secret_hash: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM sessions WHERE secret_hash = ?", (secret_hash,)))

    async def aclose(self) -> None:
        def close() -> None:
            with self._lock:
                self._db.close()

        await anyio.to_thread.run_sync(close)


def _no_permission(experiment_id: str, username: str) -> MlflowException:
    return MlflowException(
        f"Experiment permission with experiment_id={experiment_id} and username={username} not found",
        error_code=RESOURCE_DOES_NOT_EXIST,
    )


def no_model_permission(name: str, username: str) -> MlflowException:
    return MlflowException(
        f"Registered model permission with name={name} and username={username} not found",
        error_code=RESOURCE_DOES_NOT_EXIST,
    )


def _ensure_database(path: str) -> None:
    """Create the auth database whole if absent (schema in a temporary file hard-linked into place, so
    concurrent creators agree and nobody sees half a schema); refuse a file that is not one."""
    if not os.path.exists(path):
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        try:
            db = sqlite3.connect(tmp)
            try:
                db.executescript(_SCHEMA)
                db.commit()
            finally:
                db.close()
            os.chmod(tmp, 0o600)  # password hashes: readable by the server's user only
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    _check_ours(path)


def _check_ours(path: str) -> None:
    if os.path.isdir(path):
        raise MlflowException(f"The auth database {path} is a directory", error_code=INVALID_PARAMETER_VALUE)
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise MlflowException(
            f"{path} is not an asynctrack auth database (not SQLite); it is left untouched. Choose another "
            "path with --auth-db.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (_MARKER,)
        ).fetchone()
        version = (
            db.execute(f"SELECT value FROM {_MARKER} WHERE key = 'schema_version'").fetchone()
            if row
            else None
        )
    finally:
        db.close()
    if row is None:
        raise MlflowException(
            f"{path} is a SQLite database asynctrack did not create (no {_MARKER} table); it is left "
            "untouched. Choose another path with --auth-db.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if version is None or version[0] != _SCHEMA_VERSION:
        raise MlflowException(
            f"{path} has auth schema version {version[0] if version else None!r}; this asynctrack reads "
            f"version {_SCHEMA_VERSION}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
