"""A private PostgreSQL cluster for tests that stop or restart the server (the shared one on 5432 serves
other tests): ``initdb`` in a temporary directory, run as the ``postgres`` user, on a free port."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def usable() -> str | None:
    """Why a private cluster cannot be made here (None: it can)."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL 15 binaries in {BIN}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    if os.geteuid() != 0:
        return "a private cluster is started as the postgres user, which needs root"
    return None


class Cluster:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port

    def _ctl(self, *args: str) -> None:
        data = self.directory / "data"
        cmd = [
            str(BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            "60",
            *args,
        ]
        subprocess.run(["su", "postgres", "-c", " ".join(cmd)], check=True, capture_output=True, timeout=90)

    def _options(self) -> str:
        return f"'-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1'"

    def start(self) -> None:
        self._ctl("-o", self._options(), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    directory = Path(tempfile.mkdtemp(prefix="asynctrack-pg-"))
    try:
        shutil.chown(directory, "postgres", "postgres")
        subprocess.run(
            [
                "su",
                "postgres",
                "-c",
                f"{BIN / 'initdb'} -D {directory / 'data'} -A trust -U postgres -E UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster = Cluster(directory, free_port())
        cluster.start()
        try:
            yield cluster
        finally:
            try:
                cluster.stop()
            except subprocess.CalledProcessError:
                pass
    finally:
        shutil.rmtree(directory, ignore_errors=True)
