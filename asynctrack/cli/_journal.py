"""``asynctrack journal status`` and ``asynctrack sync``: see and ship what journals hold.

A process logging to a remote store journals its writes (``asynctrack/journal``); what it could not ship
(the server down at exit, a crash) is replayed by the next process logging to the same target, or by hand
with ``asynctrack sync``. Both commands take a journal directory (default: ``ASYNCTRACK_JOURNAL_DIR``, else
``./mlruns/.journal``), a target's subdirectory, or one journal file.
"""

from __future__ import annotations

import argparse
import datetime
import os
from typing import Any

import anyio

from asynctrack._redact import redact, restore_credentials
from asynctrack._tracking_uri import resolve
from asynctrack.cli._output import print_json, print_table
from asynctrack.journal import JournalState, journal_files, journal_root, read_journal, replay_journal
from asynctrack.journal._file import try_lock
from asynctrack.pipeline._recover import describe_queue_file, sync_queue_directory
from asynctrack.pipeline._ring import RING_SUFFIX, ring_files
from asynctrack.store import StoreUnavailable
from asynctrack.store._open import open_store

__all__ = ["add_journal_commands", "run_journal_command"]

_PATH_HELP = "journal directory or file (default: ASYNCTRACK_JOURNAL_DIR, else ./mlruns/.journal)"


def add_journal_commands(sub: Any) -> None:
    journal = sub.add_parser("journal", help="inspect the write-ahead journals of remote stores")
    jsub = journal.add_subparsers(dest="journal_command", required=True)
    status = jsub.add_parser("status", help="list journals with pending writes, their counts and targets")
    status.add_argument("path", nargs="?", default=None, help=_PATH_HELP)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sync = sub.add_parser("sync", help="send what journals hold to their tracking servers")
    sync.add_argument("path", nargs="?", default=None, help=_PATH_HELP)
    sync.add_argument("--json", action="store_true", help="machine-readable output")


def _files(path: str | None) -> list[str]:
    root = os.path.abspath(path) if path else journal_root()
    if os.path.isfile(root):
        return [root]
    if not os.path.isdir(root):
        return []
    files = journal_files(root)
    for entry in sorted(os.listdir(root)):
        sub = os.path.join(root, entry)
        if os.path.isdir(sub):
            files.extend(journal_files(sub))
    return files


def _queue_files(path: str | None) -> list[str]:
    """Queue files (``pipeline/_ring.py``): those of remote stores lie with their journals, those of
    embedded stores in ``.asynctrack-queues`` beside the database (by default ``./mlruns``)."""
    if path and os.path.isfile(path):
        return [os.path.abspath(path)] if path.endswith(RING_SUFFIX) else []
    roots = [os.path.abspath(path)] if path else [journal_root(), os.path.abspath("mlruns")]
    files: list[str] = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        files.extend(ring_files(root))
        for entry in sorted(os.listdir(root)):
            sub = os.path.join(root, entry)
            if os.path.isdir(sub):
                files.extend(ring_files(sub))
    return files


def _live(path: str) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        return not try_lock(fd)
    finally:
        os.close(fd)


def _describe(state: JournalState, live: bool) -> dict[str, Any]:
    h = state.header
    return {
        "path": state.path,
        "target": redact(h.target) if h else None,
        "pid": h.pid if h else None,
        "created": (
            datetime.datetime.fromtimestamp(h.created_ms / 1000).isoformat(timespec="seconds") if h else None
        ),
        "live": live,
        "pending_writes": len(state.pending),
        "pending_operations": state.pending_operations(),
        "applied_writes": state.applied,
        "rejected_writes": len(state.rejected),
        "damaged_tail": (
            None
            if state.torn is None
            else {"offset": state.torn.offset, "bytes": state.torn.lost_bytes, "reason": state.torn.reason}
        ),
    }


def _damage(tail: dict[str, Any] | None) -> str:
    return "-" if tail is None else f"{tail['bytes']} bytes at offset {tail['offset']}"


def _status(args: argparse.Namespace) -> int:
    rows = [_describe(read_journal(f), _live(f)) for f in _files(args.path)]
    queues = [describe_queue_file(f) for f in _queue_files(args.path)]
    if args.json:
        print_json(rows + [{"kind": "queue file", **q, "target": redact(str(q["target"]))} for q in queues])
        return 0
    if queues:
        print_table(
            "Queue files (what processes had accepted and not yet written)",
            ["queue file", "target", "state", "pending ops", "damaged records"],
            [
                [
                    os.path.basename(str(q["path"])),
                    redact(str(q["target"])),
                    "in use" if q["live"] else "pending" if q["pending_operations"] else "done",
                    str(q["pending_operations"]),
                    str(q["damaged_records"]),
                ]
                for q in queues
            ],
            whole=("queue file",),
        )
    if not rows:
        print("no journals")
        return 0
    print_table(
        "Journals",
        ["journal", "target", "state", "pending ops", "pending writes", "damage"],
        [
            [
                os.path.basename(r["path"]),
                r["target"] or "?",
                "in use" if r["live"] else "pending" if r["pending_writes"] else "done",
                str(r["pending_operations"]),
                str(r["pending_writes"]),
                _damage(r["damaged_tail"]),
            ]
            for r in rows
        ],
        whole=("journal",),
    )
    return 0


async def _sync_all(files: list[str]) -> list[dict[str, Any]]:
    out = []
    for path in files:
        state = read_journal(path)
        if state.header is None:
            out.append({"path": path, "error": state.torn.reason if state.torn else "unreadable"})
            continue
        # The journal names its target redacted: the password comes from the caller's tracking URI
        # (MLFLOW_TRACKING_URI) or the driver's own sources (PGPASSWORD, MLFLOW_TRACKING_PASSWORD).
        target = restore_credentials(state.header.target, [os.environ.get("MLFLOW_TRACKING_URI", "")])
        row: dict[str, Any] = {"path": path, "target": redact(target)}
        try:
            store = await open_store(resolve(target))
            try:
                report = await replay_journal(path, store, target)
            finally:
                await store.aclose()
        except StoreUnavailable as exc:
            row["error"] = f"target unreachable, journal kept: {exc.message}"
            out.append(row)
            continue
        row.update(
            skipped=report.skipped,
            operations=report.shipped_operations,
            writes=report.shipped_writes,
            rejected=[{"what": w, "error_code": c, "message": m} for w, c, m in report.rejected],
            damaged_tail=None
            if report.torn is None
            else {"offset": report.torn.offset, "bytes": report.torn.lost_bytes, "kept_in": report.torn_copy},
        )
        out.append(row)
    return out


async def _sync_queues(files: list[str]) -> list[dict[str, Any]]:
    # One recovery per directory and store: dead processes' queue files go to their store (or, for a
    # remote store, into a journal file, shipped right after with the other journals).
    out: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[str]] = {}
    for path in files:
        try:
            target = restore_credentials(
                str(describe_queue_file(path)["target"]), [os.environ.get("MLFLOW_TRACKING_URI", "")]
            )
        except (OSError, ValueError) as exc:
            out.append({"path": path, "error": f"unreadable queue file: {exc}"})
            continue
        groups.setdefault((os.path.dirname(path), target), []).append(path)
    for (directory, target), paths in groups.items():
        try:
            reports = await sync_queue_directory(directory, target)
        except Exception as exc:  # the files stay for the next process or the next sync
            out.extend({"path": p, "target": target, "error": f"queue file kept: {exc}"} for p in paths)
            continue
        out.extend(
            {"path": r.path, "target": target, "summary": r.summary(), "torn": r.torn} for r in reports
        )
    return out


def _sync(args: argparse.Namespace) -> int:
    queue_rows = anyio.run(_sync_queues, _queue_files(args.path))
    for r in queue_rows if not args.json else ():
        print(f"{os.path.basename(r['path'])}: {r.get('error') or r['summary']}")
    rows = anyio.run(_sync_all, _files(args.path))
    failed = [r for r in rows + queue_rows if r.get("error")]
    if args.json:
        print_json(queue_rows + rows)
        return 1 if failed else 0
    failed = [r for r in rows if r.get("error")]
    if args.json:
        print_json(rows)
    elif not rows and not queue_rows:
        print("no journals to sync")
    for r in rows if not args.json else ():
        name = os.path.basename(r["path"])
        if r.get("error"):
            print(f"{name}: {r['error']}")
        elif r.get("skipped"):
            print(f"{name}: skipped ({r['skipped']})")
        else:
            line = f"{name}: sent {r['operations']} operations in {r['writes']} writes to {r['target']}"
            if r["rejected"]:
                first = r["rejected"][0]
                line += f"; {len(r['rejected'])} rejected ({first['error_code']}: {first['message']})"
            if r["damaged_tail"]:
                t = r["damaged_tail"]
                line += f"; damaged tail of {t['bytes']} bytes at offset {t['offset']} kept in {t['kept_in']}"
            print(line)
    return 1 if failed else 0


def run_journal_command(args: argparse.Namespace) -> int:
    if args.command == "sync":
        return _sync(args)
    return _status(args)
