"""OpenAI-shaped errors: every 4xx/5xx body is {"error": {"message", "type", "param", "code"}}."""
from __future__ import annotations

import json
from typing import Any

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 408: "timeout_error", 413: "invalid_request_error",
         422: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 502: "server_error",
         503: "server_error"}


class APIError(Exception):
    """Raised by request handlers; the app turns it into the JSON error body and status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error object.

    >>> error_body(404, "no route")["error"]["type"]
    'not_found_error'
    """
    return {"error": {"message": message, "type": TYPES.get(status, "server_error" if status >= 500
                                                              else "invalid_request_error"),
                      "param": param, "code": code}}


async def send_error(send: Any, status: int, message: str, code: str | None = None) -> None:
    """Answer an ASGI request with an error body directly (used before the app sees the request)."""
    data = json.dumps(error_body(status, message, None, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": data})
