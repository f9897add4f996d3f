"""Request bodies read with a size limit and a deadline, before any handler (or the model lock) sees them.

A body larger than `max_bytes` gets 413 (a declared Content-Length over the limit is refused at once;
a body that keeps coming is cut off when it passes the limit). A client that declares more bytes than it
sends, or trickles them, gets 408 after `read_timeout` seconds instead of holding a worker. A
Content-Length that is not a whole number is a 400.
"""
from __future__ import annotations

import asyncio
from typing import Any

from ladder.server.errors import send_error

DRAIN_LIMIT = 64 << 20  # read and drop up to this much of an oversized body, so the client sees the 413


class BodyGuard:
    def __init__(self, app: Any, max_bytes: int, read_timeout: float):
        self.app, self.max_bytes, self.read_timeout = app, max_bytes, read_timeout

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await send_error(send, 400, "Content-Length must be a whole number of bytes", "bad_content_length")
            return
        body, status = await self._read(receive, declared)
        if status == 413:
            await send_error(send, 413, f"request body over the {self.max_bytes}-byte limit; send less "
                                        "(the server's --max-body)", "body_too_large")
            return
        if status == 408:
            await send_error(send, 408, f"request body not received within {self.read_timeout:g} s "
                                        "(is Content-Length larger than the body?)", "body_timeout")
            return
        if status == 499:  # the client went away
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Any, declared: int | None) -> tuple[bytearray, int]:
        """(body, status): 200 read whole, 413 too large, 408 too slow, 499 disconnected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout
        too_large = declared is not None and declared > self.max_bytes
        if too_large and declared > DRAIN_LIMIT:
            return bytearray(), 413
        body, more, seen = bytearray(), True, 0
        while more:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                msg = await asyncio.wait_for(receive(), left)
            except asyncio.TimeoutError:
                return body, 413 if too_large else 408
            if msg["type"] == "http.disconnect":
                return body, 499
            chunk = msg.get("body", b"")
            more = msg.get("more_body", False)
            seen += len(chunk)
            if seen > self.max_bytes:  # keep reading (not keeping) so the client gets to read the 413
                too_large = True
                body.clear()
            if too_large:
                if seen > DRAIN_LIMIT:
                    return body, 413
                continue
            body.extend(chunk)
        return body, 413 if too_large else 200


def _content_length(scope: dict) -> int | None:
    """The declared Content-Length, None when absent, -1 when not a non-negative whole number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                n = int(value.decode("latin-1").strip())
            except ValueError:
                return -1
            return n if n >= 0 else -1
    return None
