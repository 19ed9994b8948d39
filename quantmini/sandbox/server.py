"""The sandbox process: a moto S3 server holding bucket ``flatfiles`` plus the REST app.

Run in the foreground with ``python -m quantmini.sandbox.server`` (the tests do), or through
``quantmini sandbox start`` which runs it in the background and waits until it is ready.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from flask import request
from werkzeug.serving import make_server

from .. import atomic
from ..datasets import FLATFILE_DATASETS
from ..sessions import is_session, sessions_between
from .fixtures import fixtures_dir, real_stock_day_rows
from .market import Market
from .rest import Faults, _reset_connection, create_app, error, fault_routes

BUCKET = "flatfiles"
DEFAULT_S3_PORT = 8555
DEFAULT_REST_PORT = 8556
DEFAULT_START = "2024-06-03"
DEFAULT_END = "2024-06-28"
DEFAULT_API_KEY = "sandbox-api-key"
# moto accepts any credentials; these are what the demo exports.
DEFAULT_S3_KEY = "sandbox-access-key"
DEFAULT_S3_SECRET = "sandbox-secret-key"

log = logging.getLogger("quantmini.sandbox")


@dataclass
class SandboxState:
    pid: int
    s3_endpoint: str
    rest_url: str
    start: str
    end: str
    tickers: int
    seed: int
    fixtures: str | None
    objects: int


class FlatFiles:
    """Publishes the market's daily files into the S3 bucket over the S3 protocol.

    A range of stocks_daily is *offered* at start and each file published the first time a
    client asks for it or lists a prefix that holds it (:class:`LazyPublication`): 20 years
    of full-scale daily files take ~5 minutes to generate, so a sandbox that generated them
    eagerly would take that long to start. What a client sees is the same either way: a listing holds every
    offered file, a GET finds it. ``cache_dir`` keeps generated files on disk across starts,
    under a key of the seed, size and generator source, so a changed generator never serves a
    stale file."""

    # dataset name -> Market method producing that day's .csv.gz
    GENERATORS = {name: f"{name}_gz" for name in FLATFILE_DATASETS}

    def __init__(self, market: Market, endpoint: str, cache_dir: Path | None = None):
        self.market = market
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=DEFAULT_S3_KEY,
            aws_secret_access_key=DEFAULT_S3_SECRET,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        self.client.create_bucket(Bucket=BUCKET)
        self.offered: dict[str, tuple[str, dt.date]] = {}  # key -> (dataset, day), not yet published
        self.lock = threading.RLock()
        self.cache = cache_dir / _generator_key(market) if cache_dir else None

    @staticmethod
    def key(dataset: str, day: dt.date) -> str:
        return FLATFILE_DATASETS[dataset].s3_key(day.isoformat())

    def _body(self, dataset: str, day: dt.date) -> bytes:
        if self.cache is None:
            return getattr(self.market, self.GENERATORS[dataset])(day)
        path = self.cache / self.key(dataset, day)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            body = getattr(self.market, self.GENERATORS[dataset])(day)
            atomic.write_bytes(path, body)
            return body

    def publish(self, dataset: str, day: dt.date) -> str:
        if dataset not in self.GENERATORS:
            raise KeyError(f"unknown dataset {dataset!r} (known: {', '.join(self.GENERATORS)})")
        if not is_session(day):
            raise ValueError(f"{day} is not an XNYS session: the vendor publishes no file for it")
        key = self.key(dataset, day)
        with self.lock:
            self.offered.pop(key, None)
            self.client.put_object(Bucket=BUCKET, Key=key, Body=self._body(dataset, day))
        return key

    def unpublish(self, dataset: str, day: dt.date) -> str:
        key = self.key(dataset, day)
        with self.lock:
            self.offered.pop(key, None)
            self.client.delete_object(Bucket=BUCKET, Key=key)
        return key

    def offer_range(self, start: dt.date, end: dt.date, datasets, intraday_days: int) -> int:
        """stocks_daily for every session of the range, published on first request (see the
        class); the heavy datasets (minute bars, options) for its last ``intraday_days``
        sessions only, to bound memory, published now: one of their files takes seconds to
        generate, longer than a client waits for a listing."""
        sessions = sessions_between(start, end)
        count = 0
        for i, day in enumerate(sessions):
            for dataset in datasets:
                if dataset == "stocks_daily":
                    with self.lock:
                        self.offered[self.key(dataset, day)] = (dataset, day)
                elif i >= len(sessions) - intraday_days:
                    self.publish(dataset, day)
                else:
                    continue
                count += 1
        return count

    def materialise(self, prefix: str, exact: bool = False, after: str = "", limit: int | None = None) -> int:
        """Publish the offered files a request reaches: one key, or the keys under a prefix
        that a listing page can hold (the first ``limit`` after ``after``: any offered key
        of the page is among them, whatever is published already)."""
        if exact and prefix not in self.offered:
            return 0  # published already (or never offered): no lock taken
        with self.lock:
            keys = [prefix] if exact else sorted(k for k in self.offered if k.startswith(prefix) and k > after)[:limit]
            due = [self.offered[k] for k in keys if k in self.offered]
            for dataset, day in due:
                self.publish(dataset, day)
            return len(due)


def _generator_key(market: Market) -> str:
    """The cache folder of one market: its parameters and the generator's source."""
    import hashlib

    from . import csvfmt, market as market_module, options_chain, intraday

    digest = hashlib.sha256()
    for module in (market_module, csvfmt, options_chain, intraday):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(json.dumps(sorted(market.real_rows.items())).encode())
    params = f"seed{market.seed}-tickers{market.n_tickers}-under{market.option_underlyings}"
    return f"{params}-{digest.hexdigest()[:16]}"


class LazyPublication:
    """WSGI middleware in front of the S3 server: a request for an offered object, or a
    listing of a prefix holding offered objects, publishes them first (FlatFiles)."""

    def __init__(self, app, flatfiles: FlatFiles):
        self.app = app
        self.flatfiles = flatfiles

    def __call__(self, environ, start_response):
        from urllib.parse import parse_qs, unquote

        path = unquote(environ.get("PATH_INFO", ""))
        # reads only: the publication's own PUT passes straight through (it holds the lock)
        reads = environ.get("REQUEST_METHOD") in ("GET", "HEAD")
        if reads and self.flatfiles.offered and (path == f"/{BUCKET}" or path.startswith(f"/{BUCKET}/")):
            key = path[len(BUCKET) + 2:]
            if key:
                self.flatfiles.materialise(key, exact=True)
            else:
                query = parse_qs(environ.get("QUERY_STRING", ""))
                prefix = query.get("prefix", [""])[0]
                if "continuation-token" in query or "delimiter" in query:
                    self.flatfiles.materialise(prefix)  # a later page, or common prefixes: all of it
                else:
                    after = query.get("start-after", query.get("marker", [""]))[0]
                    self.flatfiles.materialise(prefix, after=after, limit=int(query.get("max-keys", ["1000"])[0]))
        return self.app(environ, start_response)


#: S3 errors as the real service words them (status line, code, message), by injected status
S3_ERRORS = {"403": ("403 Forbidden", "AccessDenied", "Access Denied"),
             "500": ("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
             "503": ("503 Slow Down", "SlowDown", "Please reduce your request rate.")}
S3_FAULT_KINDS = (*S3_ERRORS, "slow", "truncate", "reset")


class S3Faults:
    """WSGI middleware in front of the S3 server: a queue of injected faults (``Faults``, set
    through ``/_sandbox/s3_faults`` on the REST port), each consumed by the first request whose
    path (``/flatfiles/<key>``) starts with the fault's ``path``: an S3 error answer (403
    AccessDenied, 500 InternalError, 503 SlowDown, XML as S3 sends it), a slow answer
    (``delay`` seconds), a body cut short (the full Content-Length, half the bytes, then the
    connection closed), or a connection reset half-way through the body. Reads only: the
    sandbox's own publication PUTs pass."""

    def __init__(self, app, faults):
        self.app = app
        self.faults = faults

    def __call__(self, environ, start_response):
        from urllib.parse import unquote

        reads = environ.get("REQUEST_METHOD") in ("GET", "HEAD")  # not the publication's own PUTs
        fault = self.faults.take(unquote(environ.get("PATH_INFO", ""))) if reads else None
        if fault is None:
            return self.app(environ, start_response)
        kind = fault["kind"]
        if kind in S3_ERRORS:
            status, code, message = S3_ERRORS[kind]
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                    f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()
            start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
            return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []
        if kind == "slow":
            time.sleep(float(fault.get("delay", 5)))
            return self.app(environ, start_response)
        answer: dict = {}

        def capture(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)

        body = b"".join(self.app(environ, capture))
        headers = [(k, v) for k, v in answer["headers"] if k.lower() != "connection"] + [("Connection", "close")]
        start_response(answer["status"], headers)
        half = body[: max(1, len(body) // 2)] if body else b""
        if kind == "truncate":
            return [half]

        def reset():  # "reset": half the body, then a TCP RST
            yield half
            _reset_connection(environ)

        return reset()


class LazyMotoServer:
    """moto's threaded S3 server with :class:`LazyPublication` in front of it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.flatfiles: FlatFiles | None = None
        self.faults = Faults(S3_FAULT_KINDS)
        self._server = None

    def start(self) -> None:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self.host, self.port, self._dispatch(app), threaded=True,
                                   request_handler=MotoRequestHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _dispatch(self, app):
        def wsgi(environ, start_response):
            if self.flatfiles is None:
                return app(environ, start_response)
            return S3Faults(LazyPublication(app, self.flatfiles), self.faults)(environ, start_response)

        return wsgi

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()


def admin_routes(flatfiles_ref: dict, s3_faults=None):
    """``/_sandbox/publish`` and ``/_sandbox/unpublish``: make a file appear or disappear,
    as the vendor's late publication does; ``/_sandbox/s3_faults``: the S3 server's fault
    queue (POST ``{"faults": [...]}`` adds, DELETE clears, GET counts)."""

    def install(app):
        if s3_faults is not None:
            fault_routes(app, s3_faults, "/_sandbox/s3_faults")

        def _args():
            dataset = request.args.get("dataset", "stocks_daily")
            day = dt.date.fromisoformat(request.args["date"])
            return dataset, day

        @app.post("/_sandbox/publish")
        def publish():
            prefix, day = _args()
            try:
                return {"key": flatfiles_ref["ff"].publish(prefix, day)}
            except (ValueError, KeyError) as exc:
                return error(400, str(exc))

        @app.post("/_sandbox/unpublish")
        def unpublish():
            prefix, day = _args()
            return {"key": flatfiles_ref["ff"].unpublish(prefix, day)}

    return install


def serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fixtures = fixtures_dir() if not args.no_fixtures else None
    market = Market(
        n_tickers=args.tickers,
        seed=args.seed,
        real_rows=real_stock_day_rows(str(fixtures) if fixtures else None),
        option_underlyings=args.option_underlyings,
    )
    s3 = LazyMotoServer(args.host, args.s3_port)
    s3.start()
    s3_endpoint = f"http://{args.host}:{args.s3_port}"
    flatfiles = FlatFiles(market, s3_endpoint, args.cache_dir)
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in FLATFILE_DATASETS]
    if unknown:
        raise SystemExit(f"quantmini sandbox: unknown dataset(s) {unknown} (known: {', '.join(FLATFILE_DATASETS)})")
    objects = flatfiles.offer_range(start, end, datasets, args.intraday_days)
    s3.flatfiles = flatfiles
    ref = {"ff": flatfiles}
    app = create_app(market, os.environ.get("QUANTMINI_SANDBOX_API_KEY", DEFAULT_API_KEY), fixtures, admin=admin_routes(ref, s3.faults),
                     as_of=end, rate_limit=args.rate_limit, rate_period=args.rate_period)
    rest = make_server(args.host, args.rest_port, app, threaded=True)
    state = SandboxState(
        pid=os.getpid(),
        s3_endpoint=s3_endpoint,
        rest_url=f"http://{args.host}:{rest.server_port}",
        start=args.start,
        end=args.end,
        tickers=args.tickers,
        seed=args.seed,
        fixtures=str(fixtures) if fixtures else None,
        objects=objects,
    )
    stop = threading.Event()

    def shutdown(*_):
        stop.set()
        threading.Thread(target=rest.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    if args.state_file:
        atomic.write_json(args.state_file, asdict(state))
    log.info("ready: S3 %s (bucket %s, %d objects), REST %s", s3_endpoint, BUCKET, objects, state.rest_url)
    print(json.dumps(asdict(state)), flush=True)
    try:
        rest.serve_forever()
    finally:
        s3.stop()
        if args.state_file:
            Path(args.state_file).unlink(missing_ok=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quantmini-sandbox", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--s3-port", type=int, default=DEFAULT_S3_PORT)
    p.add_argument("--rest-port", type=int, default=DEFAULT_REST_PORT)
    p.add_argument("--start", default=DEFAULT_START, help="first date whose files are published (YYYY-MM-DD)")
    p.add_argument("--end", default=DEFAULT_END, help="last date whose files are published (YYYY-MM-DD)")
    p.add_argument("--tickers", type=int, default=12000, help="symbols active on a typical day")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--datasets", default=",".join(FLATFILE_DATASETS), help="comma-separated datasets to publish")
    p.add_argument("--intraday-days", type=int, default=2,
                   help="publish minute and options files for the last N sessions of the range")
    p.add_argument("--option-underlyings", type=int, default=None, help="optionable names (default tickers/5)")
    p.add_argument("--no-fixtures", action="store_true", help="serve synthetic data only")
    p.add_argument("--rate-limit", type=int, default=0,
                   help="REST calls allowed per --rate-period seconds, 429 above (0: unlimited; free tier is 5 per 60)")
    p.add_argument("--rate-period", type=float, default=60.0)
    p.add_argument("--state-file", type=Path, default=None)
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="keep generated flat files here across starts (keyed by seed, size and generator source)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("quantmini sandbox: --host must be a loopback address", file=sys.stderr)
        return 2
    for key in ("start", "end"):
        try:
            dt.date.fromisoformat(getattr(args, key))
        except ValueError:
            print(f"quantmini sandbox: --{key} {getattr(args, key)!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
