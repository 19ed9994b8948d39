"""The REST half of the sandbox: Polygon's envelope, auth and error bodies, on loopback.

What it serves now: ``/health`` (sandbox only), the real recorded responses from
``shared/fixtures/polygon/rest_mocks`` for their exact requests, and Polygon-shaped errors
(401 without or with a wrong key, 404 for unknown routes). Dataset endpoints backed by the
synthetic market are registered by later modules on the same app.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from urllib.parse import urlencode, parse_qsl

from flask import Flask, Response, request

from .market import Market


def request_id() -> str:
    return uuid.uuid4().hex


def error(status: int, message: str, kind: str = "ERROR", key: str = "error") -> Response:
    body = {"status": kind, "request_id": request_id(), key: message}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def load_recorded(fixtures: Path | None) -> dict[str, Path]:
    """Map ``path?query`` to a recorded mock file, by the client-python naming rule:
    strip ``.json`` and a trailing ``/index``, first ``&`` -> ``?``, first ``;`` -> ``:``."""
    out: dict[str, Path] = {}
    if fixtures is None:
        return out
    base = fixtures / "rest_mocks" / "client-python"
    for path in sorted(base.glob("**/*.json")):
        rel = path.relative_to(base).as_posix()[: -len(".json")]
        if rel.endswith("/index"):
            rel = rel[: -len("/index")]
        rel = rel.replace("&", "?", 1).replace(";", ":", 1)
        out["/" + rel] = path
    return out


def canonical(path: str, args) -> str:
    """``path?query`` without the auth parameter, query in the order sent."""
    pairs = [(k, v) for k, v in args if k != "apiKey"]
    return path + ("?" + urlencode(pairs, safe=",.:") if pairs else "")


class CallCounter:
    """Counts authenticated API calls (per key, per minute) so tests can check rate limits."""

    def __init__(self):
        self._lock = threading.Lock()
        self.total = 0
        self.by_path: dict[str, int] = {}

    def add(self, path: str) -> None:
        with self._lock:
            self.total += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"total": self.total, "by_path": dict(self.by_path)}


def create_app(market: Market, api_key: str, fixtures: Path | None, admin=None) -> Flask:
    app = Flask("quantmini-sandbox")
    recorded = load_recorded(fixtures)
    counter = CallCounter()
    app.config["counter"] = counter

    @app.get("/health")
    def health():
        return {"status": "OK", "recorded_responses": len(recorded), "tickers": market.n_tickers, "seed": market.seed}

    @app.get("/_sandbox/calls")
    def calls():
        return counter.snapshot()

    if admin is not None:
        admin(app)

    @app.before_request
    def authenticate():
        if request.path == "/health" or request.path.startswith("/_sandbox/"):
            return None
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.args.get("apiKey")
        if not key:
            return error(401, "API Key was not provided")
        if key != api_key:
            return error(401, "Unknown API Key")
        counter.add(request.path)
        return None

    @app.errorhandler(404)
    def not_found(_exc):
        wanted = canonical(request.path, parse_qsl(request.query_string.decode(), keep_blank_values=True))
        hit = recorded.get(wanted)
        if hit is not None:
            return Response(hit.read_bytes(), status=200, mimetype="application/json")
        return error(404, "Route not found or no data for this request", kind="NOT_FOUND", key="message")

    @app.errorhandler(405)
    def not_allowed(_exc):
        return error(405, f"Method {request.method} not allowed")

    return app
