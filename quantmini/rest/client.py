"""One REST client for every endpoint: auth, pagination, timeouts, retries, the rate limit.

- Auth: ``Authorization: Bearer <key>`` (default) or the ``apiKey`` query parameter.
- Pagination: follow ``next_url`` until it is absent. The vendor leaves the key out of
  ``next_url`` and its cursor encodes the whole original query, so the client requests only
  the URL's path and query against its own base URL (as the official client does), adds auth
  itself and never re-sends the original filters.
- Retries: urllib3's ``Retry`` on 429, 5xx, connection errors and read timeouts, with
  exponential backoff, honouring ``Retry-After`` when sent. A body that is cut short or is not
  JSON arrives with a 200, where urllib3 cannot see it; that page is fetched again, a bounded
  number of times.
- Every request (first tries and retries alike) passes the shared :class:`RateLimiter`.
- The key is never put in a message: URLs are redacted before they are logged or raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..secrets import RedactingFilter, get_credential, redact
from .ratelimit import RateLimiter

log = logging.getLogger("quantmini.rest")

RETRY_STATUSES = (413, 429, 499, 500, 502, 503, 504)


class ApiError(RuntimeError):
    """The API answered with an error after the allowed retries (message names the path)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(redact(message))
        self.status = status


class NotFound(ApiError):
    pass


@dataclass(frozen=True)
class RestSettings:
    base_url: str
    api_key_env: str = "MASSIVE_API_KEY"
    auth: str = "header"  # header | query
    rate_limit_calls: int = 5
    rate_limit_period_s: float = 60.0
    rate_limit_margin_s: float = 1.0
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_factor: float = 1.0
    backoff_max_s: float = 60.0

    @classmethod
    def from_config(cls, config: dict) -> "RestSettings":
        from ..settings import with_defaults

        config = with_defaults(dict(config))
        return cls(
            base_url=str(config["rest_base_url"]).rstrip("/"),
            api_key_env=config["api_key_env"],
            auth=config["rest_auth"],
            rate_limit_calls=int(config["rate_limit_calls"]),
            rate_limit_period_s=float(config["rate_limit_period_s"]),
            rate_limit_margin_s=float(config["rate_limit_margin_s"]),
            timeout_s=float(config["rest_timeout_s"]),
            max_retries=int(config["rest_max_retries"]),
            backoff_factor=float(config["rest_backoff_factor"]),
            backoff_max_s=float(config["rest_backoff_max_s"]),
        )

    def limiter_file(self, lake_root: str) -> Path:
        """One window per API host, shared by every run on the lake."""
        host = urlsplit(self.base_url).netloc.replace(":", "_") or "api"
        from ..paths import Lake

        return Path(Lake(lake_root).rate_limit_dir()) / f"{host}.json"


# urllib3 logs the URL (and so an ``apiKey`` parameter) when it retries; redact at the source
# so every handler, including ones we do not install, sees the masked record.
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")


def _redact_urllib3_logs() -> None:
    for name in _URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def _limited_retry(limiter: RateLimiter) -> type[Retry]:
    """A Retry whose pause before each retry also waits for the rate limit.

    urllib3 copies Retry objects with ``type(self)(**params)``, so the limiter is bound on a
    subclass rather than on an instance.
    """

    class LimitedRetry(Retry):
        def sleep(self, response=None):
            if self.history:
                last = self.history[-1]
                cause = f"HTTP {last.status}" if last.status else type(last.error).__name__
                wait = response.headers.get("Retry-After") if response is not None else None
                log.warning("retrying GET %s after %s%s (retry %d)", redact(last.url), cause,
                            f", Retry-After {wait}s" if wait else "", len(self.history))
            super().sleep(response)
            limiter.acquire()

    return LimitedRetry


class _LimitedAdapter(HTTPAdapter):
    def __init__(self, limiter: RateLimiter, **kwargs):
        self._limiter = limiter
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        self._limiter.acquire()  # the first try; retries acquire in LimitedRetry.sleep
        return super().send(request, **kwargs)


@dataclass
class CallStats:
    pages: int = 0
    body_retries: int = 0
    not_found: int = 0


@dataclass
class RestClient:
    settings: RestSettings
    limiter: RateLimiter
    session: requests.Session = field(init=False)
    stats: CallStats = field(default_factory=CallStats)

    def __post_init__(self):
        key = get_credential(self.settings.api_key_env)  # registered for redaction
        self._key = key
        _redact_urllib3_logs()
        retry = _limited_retry(self.limiter)(
            total=self.settings.max_retries,
            connect=self.settings.max_retries,
            read=self.settings.max_retries,
            status=self.settings.max_retries,
            other=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.settings.backoff_factor,
            backoff_max=self.settings.backoff_max_s,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount("http://", _LimitedAdapter(self.limiter, max_retries=retry))
        self.session.mount("https://", _LimitedAdapter(self.limiter, max_retries=retry))
        self.session.headers.update({"Accept-Encoding": "gzip", "User-Agent": "quantmini"})
        if self.settings.auth == "header":
            self.session.headers["Authorization"] = f"Bearer {key}"

    @classmethod
    def from_config(cls, config: dict, lake_root: str) -> "RestClient":
        settings = RestSettings.from_config(config)
        limiter = RateLimiter(
            settings.limiter_file(lake_root),
            settings.rate_limit_calls,
            settings.rate_limit_period_s,
            settings.rate_limit_margin_s,
        )
        return cls(settings, limiter)

    @property
    def api_calls(self) -> int:
        """HTTP requests made, retries included (what the vendor counts)."""
        return self.limiter.acquired

    # -- one page ------------------------------------------------------------------------
    def _url(self, path_and_query: str) -> str:
        return self.settings.base_url + path_and_query

    def get_json(self, path: str, params: dict | None = None) -> dict | list:
        """GET one page and parse it; retry a page whose body is cut short or not JSON."""
        params = dict(params or {})
        if self.settings.auth == "query":
            params["apiKey"] = self._key
        attempts = max(1, self.settings.max_retries + 1)
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                resp = self.session.get(self._url(path), params=params, timeout=(10.0, self.settings.timeout_s))
            except requests.RequestException as exc:
                if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
                    last = exc
                    self.stats.body_retries += 1
                    log.warning("GET %s: body cut short (%s); fetching the page again", path, type(exc).__name__)
                    continue
                raise ApiError(f"GET {path}: {type(exc).__name__}: {redact(exc)}") from None
            if resp.status_code != 200:
                raise self._error(path, resp)
            try:
                body = resp.json()
            except ValueError as exc:
                last = exc
                self.stats.body_retries += 1
                log.warning("GET %s: response is not valid JSON (%d bytes); fetching the page again", path, len(resp.content))
                continue
            self.stats.pages += 1
            return body
        raise ApiError(f"GET {path}: no complete JSON body after {attempts} attempts ({type(last).__name__}: {redact(last)})")

    def _error(self, path: str, resp: requests.Response) -> ApiError:
        message = ""
        try:
            body = resp.json()
            message = body.get("error") or body.get("message") or body.get("status") or ""
        except ValueError:
            message = resp.text[:200]
        text = f"GET {path}: HTTP {resp.status_code}" + (f": {message}" if message else "")
        if resp.status_code in RETRY_STATUSES:
            text += f" (after {self.settings.max_retries} retries)"
        cls = NotFound if resp.status_code == 404 else ApiError
        return cls(text, resp.status_code)

    # -- every page ----------------------------------------------------------------------
    def iter_pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        body = self.get_json(path, params)
        seen: set[str] = set()
        while True:
            yield body
            nxt = body.get("next_url") if isinstance(body, dict) else None
            if not nxt:
                return
            parts = urlsplit(nxt)
            if not parts.query:
                log.warning("GET %s: next_url without a cursor; treating the page as the last", path)
                return
            follow = f"{parts.path}?{parts.query}"
            if follow in seen:
                raise ApiError(f"GET {path}: next_url repeats ({redact(follow)}); stopping instead of looping")
            seen.add(follow)
            # Only the cursor (the URL's own query): the original filters are inside it.
            body = self.get_json(follow)

    def results(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Every result of a list endpoint, across pages; a single-object result as one item."""
        for body in self.iter_pages(path, params):
            res = body.get("results") if isinstance(body, dict) else body
            if res is None:
                continue
            if isinstance(res, dict):
                yield res
            else:
                yield from res

    def close(self) -> None:
        self.session.close()
