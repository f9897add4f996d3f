"""Serve a compiled program: POST /predict {"fields": {...}} -> {"output", "usage"}; GET /health.

Plain standard-library HTTP (one program, one lock around the model); bad
requests get a JSON 4xx naming the problem. For throughput, put the model behind
an inference server (vLLM, llama.cpp server) and serve `--model openai/<name>`.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ladder.task import template_fields


def make_handler(program: Any) -> type[BaseHTTPRequestHandler]:
    task, lock = program.task, threading.Lock()
    fields = template_fields(task.input, task.source, "input")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                self._send(200, {"status": "ok", **program.describe()})
            else:
                self._send(404, {"error": f"no route {self.path}; use POST /predict or GET /health"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/predict":
                self._send(404, {"error": f"no route {self.path}; use POST /predict"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                ex = body["fields"]
                missing = [f for f in fields if f not in ex]
                if missing:
                    raise KeyError(missing[0])
            except (ValueError, KeyError, TypeError) as e:
                self._send(400, {"error": f"expected JSON {{\"fields\": {{{', '.join(fields)}}}}}; problem: {e}"})
                return
            with lock:
                out = program(ex)
            self._send(200, {"output": out.text, "usage": out.usage.to_dict()})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def serve_program(task_file: str, rung: str, model_spec: str, options: dict | None, host: str, port: int,
                  base_url: str | None = None) -> None:
    from ladder.models import load_model
    from ladder.rungs import get_rung
    from ladder.task import load_task

    task = load_task(task_file)
    program = get_rung(rung)(task, load_model(model_spec, base_url=base_url), options or {})
    httpd = ThreadingHTTPServer((host, port), make_handler(program))
    print(f"serving {rung} with {model_spec} on http://{host}:{port}/predict", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
