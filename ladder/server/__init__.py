"""`ladder serve`: an OpenAI-compatible server for a saved program, search and ask over an index, a dashboard.

    from ladder.server import Served, create_app, serve
    serve(Served(program=ladder.load("runs/<id>/best"), name="best"), host="127.0.0.1", port=8000)

Modules: app.py (routes, model lock), chat.py (OpenAI request/response shapes), guard.py (body size
and read deadline), search.py (/v1/search, /v1/ask), dashboard.py (+ static/), errors.py (error shape).
FastAPI and uvicorn are imported only when a server is built (`pip install 'ladder[serve]'`).
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any

from ladder.errors import LadderError

__all__ = ["Served", "Limits", "create_app", "serve", "check_bind"]


def __getattr__(name: str) -> Any:
    if name in ("Served", "Limits", "create_app"):
        from ladder.server import app

        return getattr(app, name)
    raise AttributeError(name)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if not api_key and not is_loopback(host):
        raise LadderError(f"--host {host} accepts connections from other machines, so an API key is required: "
                          "pass --api-key KEY or set LADDER_API_KEY (clients send 'Authorization: Bearer KEY'), "
                          "or bind to 127.0.0.1")


def serve(served: Any, host: str = "127.0.0.1", port: int = 8321) -> None:
    """Run the app with uvicorn until interrupted."""
    try:
        import uvicorn

        from ladder.server.app import create_app
    except ImportError as e:
        raise LadderError(f"serving needs FastAPI and uvicorn ({e.name} is missing); pip install 'ladder[serve]'") from None
    check_bind(host, served.api_key)
    app = create_app(served)
    what = [f"program '{served.name}'" if served.program is not None else "", "index" if served.index is not None else ""]
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"serving {' + '.join(w for w in what if w) or 'the dashboard'} on {base} "
          f"(OpenAI base URL {base}/v1, dashboard {base}/)", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level=os.environ.get("LADDER_LOG_LEVEL", "warning"),
                            access_log=False, timeout_keep_alive=5)
    uvicorn.Server(config).run()
