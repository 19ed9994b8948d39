"""The REST half of the sandbox: Polygon's envelope, auth and error bodies, on loopback.

Serves: ``/health`` (sandbox only); the real recorded responses from
``shared/fixtures/polygon/rest_mocks`` for their exact requests; the dataset endpoints of
:mod:`rest_api` backed by the synthetic market; Polygon-shaped errors (401 without or with a
wrong key, 400 for bad parameters, 404 for unknown routes, 429 over the rate limit).

Admin routes for tests (``/_sandbox/...``, no key): call counts, the rate limit, and a queue
of injected faults (429 with or without ``Retry-After``, 500/502/503, slow answers, bodies cut
short, malformed JSON, connection resets) consumed in order by matching requests.
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, parse_qsl

from flask import Flask, Response, request

from .market import Market
from .refdata import RefData
from .rest_api import Api, BadRequest

#: what /_sandbox/actions withholds and announces
ACTION_KINDS = ("split", "dividend", "ticker_change")

RATE_LIMIT_MESSAGE = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. "
    "https://polygon.io/pricing"
)


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
    """Counts authenticated API calls, and enforces the calls-per-period limit.

    Every request that arrives counts (the vendor counts what it receives); one over the limit
    in the sliding window is answered 429 and recorded in ``rate_limited``.
    """

    def __init__(self, limit: int = 0, period: float = 60.0):
        self._lock = threading.Lock()
        self.limit = limit
        self.period = period
        self.total = 0
        self.rate_limited = 0
        self.max_in_window = 0
        self.by_path: dict[str, int] = {}
        self._recent: collections.deque[float] = collections.deque()

    def configure(self, limit: int, period: float) -> None:
        with self._lock:
            self.limit, self.period = limit, period
            self._recent.clear()
            self.max_in_window = 0
            self.rate_limited = 0

    def add(self, path: str) -> bool:
        """Record a call; False when it is over the limit."""
        now = time.monotonic()
        with self._lock:
            self.total += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1
            while self._recent and self._recent[0] <= now - self.period:
                self._recent.popleft()
            if self.limit and len(self._recent) >= self.limit:
                self.rate_limited += 1
                return False
            self._recent.append(now)
            self.max_in_window = max(self.max_in_window, len(self._recent))
            return True

    def snapshot(self) -> dict:
        with self._lock:
            return {"total": self.total, "by_path": dict(self.by_path), "rate_limited": self.rate_limited,
                    "max_in_window": self.max_in_window, "limit": self.limit, "period": self.period}


class Faults:
    """A queue of injected faults; each matching request consumes the first that applies."""

    KINDS = ("403", "429", "500", "502", "503", "slow", "truncate", "malformed", "reset")

    def __init__(self, kinds: tuple[str, ...] = KINDS):
        self.kinds = kinds
        self._lock = threading.Lock()
        self._queue: list[dict] = []
        self.fired: dict[str, int] = {}

    def add(self, items: list[dict]) -> None:
        for f in items:
            if str(f.get("kind")) not in self.kinds:
                raise ValueError(f"fault kind must be one of {self.kinds}, got {f.get('kind')!r}")
        with self._lock:
            for f in items:
                self._queue.extend([dict(f)] * int(f.get("count", 1)))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.fired.clear()

    def take(self, path: str) -> dict | None:
        with self._lock:
            for i, f in enumerate(self._queue):
                if path.startswith(f.get("path", "/")):
                    self.fired[f["kind"]] = self.fired.get(f["kind"], 0) + 1
                    return self._queue.pop(i)
        return None

    def snapshot(self) -> dict:
        with self._lock:
            return {"queued": len(self._queue), "fired": dict(self.fired)}


def fault_routes(app: Flask, faults: Faults, path: str) -> None:
    """``path``'s admin routes for a fault queue: POST ``{"faults": [...]}`` adds (400 naming
    a kind it does not know), DELETE clears, GET counts."""
    def add():
        try:
            faults.add(list((request.get_json(force=True) or {}).get("faults", [])))
        except ValueError as exc:
            return error(400, str(exc))
        return faults.snapshot()

    def clear():
        faults.clear()
        return faults.snapshot()

    name = path.strip("/").replace("/", "_")
    app.add_url_rule(path, f"{name}_add", add, methods=["POST"])
    app.add_url_rule(path, f"{name}_clear", clear, methods=["DELETE"])
    app.add_url_rule(path, f"{name}_count", faults.snapshot, methods=["GET"])


def _reset_connection(environ: dict | None = None) -> None:
    """Close the client's socket with a TCP RST (SO_LINGER 0), mid-request."""
    sock = (request.environ if environ is None else environ).get("werkzeug.socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()


def create_app(market: Market, api_key: str, fixtures: Path | None, admin=None, as_of=None,
               rate_limit: int = 0, rate_period: float = 60.0) -> Flask:
    import datetime as dt

    app = Flask("quantmini-sandbox")
    recorded = load_recorded(fixtures)
    counter = CallCounter(rate_limit, rate_period)
    faults = Faults()
    ref = RefData(market, as_of or dt.date(2024, 6, 28))
    api = Api(ref)
    app.config["counter"] = counter

    @app.get("/health")
    def health():
        return {"status": "OK", "recorded_responses": len(recorded), "tickers": market.n_tickers, "seed": market.seed}

    @app.get("/_sandbox/calls")
    def calls():
        return {**counter.snapshot(), "faults": faults.snapshot()}

    @app.post("/_sandbox/rate_limit")
    def set_rate_limit():
        counter.configure(int(request.args.get("calls", 0)), float(request.args.get("period", 60)))
        return counter.snapshot()

    fault_routes(app, faults, "/_sandbox/faults")

    @app.post("/_sandbox/actions/<verb>")
    def withhold_or_announce(verb: str):
        """``withhold`` or ``announce`` a split, dividend or ticker change (``kind``, ``ticker``
        (a change's new one), ``date``: its execution, ex-dividend or change date): a withheld
        action is missing from every answer."""
        kind, ticker, date = (request.args.get(k, "") for k in ("kind", "ticker", "date"))
        if verb not in ("withhold", "announce") or kind not in ACTION_KINDS or not ticker or not date:
            return error(400, f"POST /_sandbox/actions/withhold|announce?kind={'|'.join(ACTION_KINDS)}"
                              "&ticker=T&date=YYYY-MM-DD")
        (ref.withheld.add if verb == "withhold" else ref.withheld.discard)((kind, ticker, date))
        api.forget()
        return {"withheld": sorted("|".join(w) for w in ref.withheld)}

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
        if not counter.add(request.path):
            return error(429, RATE_LIMIT_MESSAGE)
        fault = faults.take(request.path)
        if fault is not None:
            injected = _inject(fault)
            if injected is not None:
                return injected
        wanted = canonical(request.path, parse_qsl(request.query_string.decode(), keep_blank_values=True))
        hit = recorded.get(wanted)
        if hit is not None:
            return Response(hit.read_bytes(), status=200, mimetype="application/json")
        return None

    def _inject(fault: dict):
        kind = fault["kind"]
        if kind == "403":  # the vendor's entitlement answer: status NOT_AUTHORIZED, key `message`
            return error(403, "You are not entitled to this data. Please upgrade your plan at https://massive.com/pricing",
                         kind="NOT_AUTHORIZED", key="message")
        if kind in ("429", "500", "502", "503"):
            resp = error(int(kind), RATE_LIMIT_MESSAGE if kind == "429" else "Internal error, please retry")
            if fault.get("retry_after") is not None:
                resp.headers["Retry-After"] = str(fault["retry_after"])
            return resp
        if kind == "slow":
            time.sleep(float(fault.get("delay", 5)))
            return None
        if kind == "malformed":
            return Response('{"status":"OK","results":[{"ticker":', status=200, mimetype="application/json")
        if kind == "reset":
            _reset_connection()
            return Response("", status=500)
        if kind == "truncate":
            request.environ["quantmini.truncate"] = True
            return None
        return None

    @app.after_request
    def truncate(resp):
        if request.environ.get("quantmini.truncate"):
            body = resp.get_data()
            resp.set_data(body[: max(1, len(body) // 2)])
            resp.headers["Content-Length"] = str(len(body))
            resp.headers["Connection"] = "close"
        return resp

    def _page(path: str):
        try:
            body = api.page(path, parse_qsl(request.query_string.decode(), keep_blank_values=True), request.host_url)
        except BadRequest as exc:
            return error(400, str(exc))
        body["request_id"] = request_id()
        return Response(json.dumps(body), status=200, mimetype="application/json")

    for path in api.endpoints:
        app.add_url_rule(path, endpoint=path, view_func=lambda path=path: _page(path))

    @app.get("/vX/reference/tickers/<ticker>/events")
    def ticker_events(ticker):
        result = ref.ticker_events(ticker)
        if result is None:
            return error(404, "Ticker not found.", kind="NOT_FOUND", key="message")
        return {"status": "OK", "request_id": request_id(), "results": result}

    @app.errorhandler(404)
    def not_found(_exc):
        return error(404, "Route not found or no data for this request", kind="NOT_FOUND", key="message")

    @app.errorhandler(405)
    def not_allowed(_exc):
        return error(405, f"Method {request.method} not allowed")

    return app
