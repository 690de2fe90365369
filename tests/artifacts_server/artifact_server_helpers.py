"""Helpers for the artifact-server tests (a module name of its own: test directories share one namespace)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

MiB = 1024 * 1024
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu"


def serving_args(dest: Path) -> list[str]:
    return ["--serve-artifacts", "--artifacts-destination", str(dest)]


def workload_env(**extra: str) -> dict[str, str]:
    """This process's environment without MLflow's settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(extra)
    return env


def raw_request(port: int, method: str, target: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request line exactly as given (no client normalises ``..`` or backslashes away) and return the
    status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = (
            method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head_part, _, payload = data.partition(b"\r\n\r\n")
    return int(head_part.split(b" ", 2)[1]), payload


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` (not following links) with a file's contents (None for others)."""
    found: dict[str, bytes | None] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            rel = str(path.relative_to(root))
            found[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found
