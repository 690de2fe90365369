"""The download transport's connections read up to 1 MiB per call (httpcore's public network_backend=),
and its errors are httpx's, so the retry loop treats them as it treats the async client's."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from asynctrack._http._client import LIMITS
from asynctrack._http._large_reads import CHUNK, LargeReadTransport, _LargeReads


def test_a_read_takes_everything_that_has_arrived(tmp_path: Path) -> None:
    """Where httpcore asks for 64 KiB, a connection of this backend returns all 200 KiB already in the
    socket (before this transport, one read could return at most 64 KiB)."""
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    payload = b"x" * (200 * 1024)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        conn.sendall(payload)  # fits in the socket's buffers: done before the client reads
        conn.close()

    server = threading.Thread(target=serve)
    server.start()
    stream = _LargeReads().connect_unix_socket(path, timeout=30)
    try:
        server.join(timeout=30)
        assert not server.is_alive()
        got = stream.read(64 * 1024, timeout=30)
        assert len(got) > 64 * 1024
        assert len(got) <= CHUNK
        rest = b""
        while chunk := stream.read(64 * 1024, timeout=30):
            rest += chunk
        assert got + rest == payload
    finally:
        stream.close()
        listener.close()


def test_errors_are_httpx_errors() -> None:
    """A refused connection is httpx.ConnectError (a transport error the retry loop retries)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with httpx.Client(transport=LargeReadTransport(None, LIMITS)) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{port}/")
