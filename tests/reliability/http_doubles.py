"""Tiny misbehaving HTTP servers on loopback (stdlib, one thread each) for the backend's deadline tests."""
from __future__ import annotations

import contextlib
import socket
import threading
from typing import Callable, Iterator


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """Serve each connection with `handle(conn)` on a thread; yield the base URL (…/v1)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=_guarded, args=(handle, conn), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            with contextlib.suppress(OSError):
                c.close()
        srv.close()


def _guarded(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        handle(conn)


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers + Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)
    return data


def answer(status: int, body: bytes, content_type: str = "application/json") -> Callable[[socket.socket], None]:
    """A handler that answers every request with `status` and `body`."""
    def handle(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                         .encode() + body)
    return handle


def silent(hold: threading.Event) -> Callable[[socket.socket], None]:
    """A handler that reads the request and never answers (until `hold` is set)."""
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        hold.wait(30)
    return handle
