"""``/metrics``, ``/healthz`` and ``/readyz`` on a stdlib ``ThreadingHTTPServer`` in a daemon thread.

* ``/metrics`` — the run's registry in the Prometheus text format;
* ``/healthz`` — liveness: 200 while the process serves requests (and the
  optional ``alive`` check passes), else 503;
* ``/readyz`` — readiness: every named check (store reachable, adapter
  connected, data fresh...) must pass; the JSON body shows each check.

The server never touches the trading thread: handlers only read metrics and
call the checks, which must be cheap, thread-safe and must not raise (an
exception counts as a failed check).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.logging_setup import get_logger

log = get_logger("telemetry")

Check = Callable[[], "tuple[bool, str] | bool"]


class HealthServer:
    """Serves the endpoints on ``host:port`` (port 0 = an ephemeral port; see :attr:`port`).

    Args:
        metrics: an object with ``exposition() -> bytes`` and ``content_type`` (RunMetrics), or None.
        ready_checks: name -> check returning ``ok`` or ``(ok, detail)``.
        alive: the liveness check (default: always alive).
    """

    def __init__(
        self,
        metrics: Any = None,
        ready_checks: dict[str, Check] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        alive: Check | None = None,
    ) -> None:
        self.metrics = metrics
        self.ready_checks: dict[str, Check] = dict(ready_checks or {})
        self.alive = alive
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path = self.path.split("?", 1)[0]
                if path == "/metrics" and server.metrics is not None:
                    self._send(200, server.metrics.exposition(), server.metrics.content_type)
                elif path == "/healthz":
                    ok, detail = _run(server.alive) if server.alive is not None else (True, "")
                    self._send(200 if ok else 503, (b"ok\n" if ok else f"unhealthy: {detail}\n".encode()))
                elif path == "/readyz":
                    ok, report = server.readiness()
                    body = json.dumps({"ready": ok, "checks": report}, indent=1).encode() + b"\n"
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n")

            def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("http %s", fmt % args)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def readiness(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        report = {}
        for name, check in self.ready_checks.items():
            ok, detail = _run(check)
            report[name] = {"ok": ok, "detail": detail}
        return all(r["ok"] for r in report.values()), report

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="parity-health", daemon=True
        )
        self._thread.start()
        log.info("serving /metrics /healthz /readyz on %s", self.url)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run(check: Check) -> tuple[bool, str]:
    try:
        result = check()
    except Exception as exc:  # a broken check is a failed check, never a crashed server
        return False, f"{type(exc).__name__}: {exc}"
    if isinstance(result, tuple):
        return bool(result[0]), str(result[1])
    return bool(result), ""


__all__ = ["HealthServer"]
