"""``asynctrack users``: manage the users, API tokens and experiment permissions of ``asynctrack server
--auth``, directly in its auth database (the server need not run; a running one sees changes at once).

::

    asynctrack users create alice [--admin] [--password-stdin]
    asynctrack users set-password alice [--password-stdin]
    asynctrack users delete alice
    asynctrack users list
    asynctrack users grant alice 12 EDIT          # READ, USE, EDIT, MANAGE or NO_PERMISSIONS
    asynctrack users revoke alice 12
    asynctrack users tokens create alice [--name ci] [--expires-days 90]   # shown once
    asynctrack users tokens list alice
    asynctrack users tokens revoke alice <token id>

The database is ``--auth-db``, else ``asynctrack-auth.db`` beside the tracking database
(``--backend-store-uri``, ``--tracking-uri``, ``MLFLOW_TRACKING_URI``, ``./mlruns``), as the server finds it.
Passwords are read from a prompt (twice) or, for scripts, one line on standard input with
``--password-stdin``: never from the command line, where ``ps`` would show them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import Any

import anyio

from asynctrack.cli._output import print_json, print_table, when
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server.auth import AuthStore, auth_db_path, get_permission, open_auth_store
from asynctrack.server.auth._access import canonical_experiment_id
from asynctrack.server.auth._secrets import check_password_policy, hash_password, new_token

__all__ = ["add_users_command", "run_users_command"]


def add_users_command(sub: Any) -> None:
    users = sub.add_parser(
        "users",
        help="manage users, API tokens and experiment permissions of `asynctrack server --auth`",
        description=__doc__.split("::")[0].strip() if __doc__ else None,
    )
    users.add_argument(
        "--auth-db",
        default=None,
        metavar="PATH",
        help="the auth database (default: beside the tracking database)",
    )
    users.add_argument("--backend-store-uri", default=None, help="the tracking database the server uses")
    cmd = users.add_subparsers(dest="users_command", required=True)
    create = cmd.add_parser("create", help="add a user")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true", help="the user may do everything, manage users too")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    delete = cmd.add_parser("delete", help="remove a user, their tokens, sessions and permissions")
    delete.add_argument("username")
    setpw = cmd.add_parser("set-password", help="change a user's password (ends their UI sessions)")
    setpw.add_argument("username")
    setpw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    listing = cmd.add_parser("list", help="the users, with their admin flag and permissions")
    listing.add_argument("--json", action="store_true", help="print JSON")
    grant = cmd.add_parser("grant", help="set a user's permission on an experiment")
    grant.add_argument("username")
    grant.add_argument("experiment_id")
    grant.add_argument("permission", help="READ, USE, EDIT, MANAGE or NO_PERMISSIONS")
    revoke = cmd.add_parser(
        "revoke", help="remove a user's grant on an experiment (the default applies again)"
    )
    revoke.add_argument("username")
    revoke.add_argument("experiment_id")
    tokens = cmd.add_parser("tokens", help="API tokens for machines (MLFLOW_TRACKING_TOKEN)")
    tcmd = tokens.add_subparsers(dest="tokens_command", required=True)
    tcreate = tcmd.add_parser("create", help="make a token for a user; it is printed once, never stored")
    tcreate.add_argument("username")
    tcreate.add_argument("--name", default="", help="a label to recognise it by (e.g. ci)")
    tcreate.add_argument(
        "--expires-days", type=int, default=None, help="days until it stops working (default: never)"
    )
    tlist = tcmd.add_parser("list", help="a user's tokens (ids and labels, never the secrets)")
    tlist.add_argument("username")
    tlist.add_argument("--json", action="store_true", help="print JSON")
    trevoke = tcmd.add_parser("revoke", help="make a token stop working")
    trevoke.add_argument("username")
    trevoke.add_argument("token_id")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return check_password_policy(line.rstrip("\r\n"))
    if not sys.stdin.isatty():
        raise MlflowException(
            "no terminal to ask for the password: pass --password-stdin and write it on standard input",
            error_code=INVALID_PARAMETER_VALUE,
        )
    first = check_password_policy(getpass.getpass("Password: "))
    if getpass.getpass("Password again: ") != first:
        raise MlflowException("the two passwords differ", error_code=INVALID_PARAMETER_VALUE)
    return first


def _experiment(value: str) -> str:
    key = canonical_experiment_id(value.strip())
    if not key.lstrip("-").isdigit():
        raise MlflowException(
            f"Invalid experiment ID {value!r}: an experiment id is an integer "
            "(see `asynctrack experiments list`).",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return key


async def _run(store: AuthStore, args: argparse.Namespace, password: str | None) -> int:
    command = args.users_command
    if command == "create":
        assert password is not None
        hashed = await anyio.to_thread.run_sync(hash_password, password)
        user = await store.create_user(args.username, hashed, is_admin=args.admin)
        print(f"created {'admin ' if user.is_admin else ''}user {user.username!r}")
    elif command == "delete":
        await store.delete_user(args.username)
        print(f"deleted user {args.username!r}")
    elif command == "set-password":
        assert password is not None
        await store.update_password(args.username, await anyio.to_thread.run_sync(hash_password, password))
        print(f"changed the password of {args.username!r}")
    elif command == "list":
        users = await store.list_users()
        rows = [(u.username, u.is_admin, await store.list_permissions(u.username)) for u in users]
        if args.json:
            print_json([{"username": n, "is_admin": a, "permissions": p} for n, a, p in rows])
        else:
            print_table(
                f"{len(rows)} user(s)",
                ["username", "admin", "permissions (experiment: permission)"],
                [
                    (n, "yes" if a else "", ", ".join(f"{e}: {p}" for e, p in perms.items()))
                    for n, a, perms in rows
                ],
            )
    elif command == "grant":
        permission = get_permission(args.permission.upper()).name
        await store.set_permission(args.username, _experiment(args.experiment_id), permission)
        print(f"{args.username!r} has {permission} on experiment {_experiment(args.experiment_id)}")
    elif command == "revoke":
        await store.delete_permission(args.username, _experiment(args.experiment_id))
        print(f"removed the grant of {args.username!r} on experiment {_experiment(args.experiment_id)}")
    elif command == "tokens":
        return await _tokens(store, args)
    return 0


async def _tokens(store: AuthStore, args: argparse.Namespace) -> int:
    if args.tokens_command == "create":
        if args.expires_days is not None and args.expires_days <= 0:
            raise MlflowException(
                f"--expires-days must be positive, got {args.expires_days}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        expires = None if args.expires_days is None else int((time.time() + args.expires_days * 86400) * 1000)
        token_id, token, secret_hash = new_token()
        await store.create_token(args.username, token_id, args.name, secret_hash, expires)
        print(token)
        print(
            f"token {token_id} for {args.username!r}: shown once, store it now (MLFLOW_TRACKING_TOKEN=...)",
            file=sys.stderr,
        )
    elif args.tokens_command == "list":
        tokens = await store.list_tokens(args.username)
        if args.json:
            print_json(
                [
                    {"id": t.id, "name": t.name, "created_at": t.created_at, "expires_at": t.expires_at}
                    for t in tokens
                ]
            )
        else:
            print_table(
                f"{len(tokens)} token(s) of {args.username}",
                ["id", "name", "created", "expires"],
                [(t.id, t.name, when(t.created_at), when(t.expires_at) or "never") for t in tokens],
            )
    elif args.tokens_command == "revoke":
        await store.delete_token(args.username, args.token_id)
        print(f"revoked token {args.token_id} of {args.username!r}")
    return 0


def run_users_command(args: argparse.Namespace) -> int:
    path = auth_db_path(args.auth_db, args.backend_store_uri or args.tracking_uri)
    creating = args.users_command == "create"
    if not creating and not os.path.exists(path):
        raise MlflowException(
            f"No auth database at {path}: there are no users yet (create one with "
            "`asynctrack users create NAME --admin`, or name the database with --auth-db).",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    password = _read_password(args) if args.users_command in ("create", "set-password") else None

    async def main() -> int:
        store = open_auth_store(path)
        try:
            return await _run(store, args, password)
        finally:
            await store.aclose()

    return anyio.run(main)
