"""Prometheus metrics of one process: GraphQL requests, websockets and subscriptions, the outbox relay,
the database pools and the scheduler; served at ``GET /metrics`` or on a port of their own.

The request path pays for two observations and a dictionary lookup (the endpoint notes the operation,
the user and the error codes in the request's scope state; the access log middleware hands them to
:meth:`Metrics.observe` with the time it measured). Everything else is read when a scrape asks: the
realtime and domain layers keep plain counters (``Hub.replays``, ``Relay.on_published``,
``Scheduler.runs``) and know nothing of Prometheus.

Label values are bounded: an operation label is a name some authenticated client ran, at most
``max_operations`` of them per process (later ones count as ``other``; requests without a name as
``anonymous``), and at most ``MAX_CODES`` error codes.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder, make_wsgi_app
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tandem.domain.shared import outbox
from tandem.domain.shared.clock import clock
from tandem.realtime.hub import Hub
from tandem.realtime.relay import Relay

from .scheduler import Scheduler
from .settings import Settings

log = logging.getLogger("tandem.metrics")

ANONYMOUS = "anonymous"
OTHER = "other"
MAX_CODES = 200
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}\Z")
FIRST_OPERATION = re.compile(
    r"\s*(?:#[^\n]*\n\s*)*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]{0,99})(?![_0-9A-Za-z])")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BACKLOG_TIMEOUT = 3.0
"""Seconds a scrape waits for the outbox backlog query (without it, the backlog families are left out)."""
PORT_TRIES = 64
"""Ports tried from ``metrics_port`` up: with ``--workers N`` each worker takes the next free one."""


def operation_of(query: str, requested: Any) -> str | None:
    """The operation a request runs, as a name fit for a log or a label: its ``operationName``, else the
    name of the document's first operation when the document starts with one (a regular expression, not
    a parse: the read path must stay cheap); None for an anonymous operation or a name that is not one."""
    if requested is not None:
        return requested if isinstance(requested, str) and NAME.match(requested) else None
    found = FIRST_OPERATION.match(query) if isinstance(query, str) else None
    return found.group(1) if found else None


@dataclass
class Sources:
    """What a scrape reads, besides what requests observed."""

    hub: Hub
    relay: Relay
    scheduler: Scheduler
    outbox_engine: AsyncEngine
    """An engine that sees every org's outbox rows (the relay's: not under row-level security)."""
    pools: dict[str, AsyncEngine]


class Metrics:
    def __init__(self, *, max_operations: int = 100) -> None:
        self.max_operations = max_operations
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("tandem_graphql_requests", "GraphQL requests over HTTP by operation and outcome "
                                "(error: the answer carries at least one error)", ["operation", "outcome"],
                                registry=registry)
        self.duration = Histogram("tandem_graphql_request_duration_seconds", "Time to answer a GraphQL request over "
                                  "HTTP, by operation", ["operation"], buckets=LATENCY_BUCKETS, registry=registry)
        self.errors = Counter("tandem_graphql_errors", "Errors in GraphQL answers over HTTP, by extensions.code",
                              ["code"], registry=registry)
        self.published = Counter("tandem_outbox_events_published", "Outbox events this process's relay published",
                                 registry=registry)
        self.lag = Histogram("tandem_relay_lag_seconds", "Seconds from an outbox event's commit to its publishing",
                             buckets=LAG_BUCKETS, registry=registry)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        registry.register(_Scraped(self))
        self.websockets = 0
        """Websocket connections open now (the access log middleware counts them)."""
        self.sources: Sources | None = None
        self.scraped: dict[str, Any] = {}
        """What the last :meth:`refresh` read; the collector reads only this (a scrape on the metrics port is
        collected in another thread than the one the hub and the pools live in)."""
        self._names: set[str] = set()
        self._children: dict[tuple[str, bool], tuple[Any, Any]] = {}
        self._codes: dict[str, Any] = {}

    def observe(self, state: dict[str, Any], seconds: float) -> None:
        """One GraphQL request answered, as the endpoint noted it in the scope state."""
        codes = state.get("error_codes")
        key = (self._operation(state.get("operation"), state.get("user_id") is not None), bool(codes))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(key[0], "error" if codes else "ok"),
                                              self.duration.labels(key[0]))
        children[0].inc()
        children[1].observe(seconds)
        for code in codes or ():
            child = self._codes.get(code)
            if child is None:
                if isinstance(code, str) and len(self._codes) < MAX_CODES:
                    child = self._codes[code] = self.errors.labels(code)
                else:
                    child = self.errors.labels(OTHER)
            child.inc()

    def _operation(self, name: str | None, authenticated: bool) -> str:
        if name is None:
            return ANONYMOUS
        if name in self._names:
            return name
        if not authenticated or len(self._names) >= self.max_operations:
            return OTHER
        self._names.add(name)
        return name

    def relay_published(self, lags: list[float]) -> None:
        """The relay's callback after a round (see ``Relay.on_published``)."""
        self.published.inc(len(lags))
        for lag in lags:
            self.lag.observe(lag)

    async def refresh(self) -> None:
        """Read what the scrape reports besides the request counters (on the event loop)."""
        scraped: dict[str, Any] = {"websockets": self.websockets}
        sources = self.sources
        if sources is not None:
            scraped["hub"] = sources.hub.stats()
            scraped["replays"] = (sources.hub.replays, sources.hub.replayed)
            scraped["scheduler"] = dict(sources.scheduler.runs)
            scraped["pools"] = {name: _pool(engine) for name, engine in sources.pools.items()}
            try:
                async with asyncio.timeout(BACKLOG_TIMEOUT):
                    scraped["backlog"] = await _backlog(sources.outbox_engine)
            except Exception:  # the scrape goes on without it; the reason goes to the log
                log.warning("metrics: outbox backlog not read", exc_info=True)
        self.scraped = scraped

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        await self.refresh()
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _pool(engine: AsyncEngine) -> tuple[int, int] | None:
    pool = engine.pool
    checked_out, size = getattr(pool, "checkedout", None), getattr(pool, "size", None)
    return (checked_out(), size()) if callable(checked_out) and callable(size) else None


async def _backlog(engine: AsyncEngine) -> tuple[int, float]:
    async with AsyncSession(engine) as session:
        count, oldest = await outbox.backlog(session)
    return count, max(0.0, (clock.now() - oldest).total_seconds()) if oldest is not None else 0.0


class _Scraped(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        scraped = self.metrics.scraped
        yield GaugeMetricFamily("tandem_websockets_open", "Websocket connections open now",
                                value=scraped.get("websockets", 0))
        if "hub" in scraped:
            channels, subscriptions, groups = scraped["hub"]
            yield GaugeMetricFamily("tandem_subscriptions_active", "Live subscriptions (replaying or streaming)",
                                    value=subscriptions)
            yield GaugeMetricFamily("tandem_subscription_channels", "Broker channels this process listens to",
                                    value=channels)
            yield GaugeMetricFamily("tandem_subscription_groups", "Groups of a channel's subscribers that share one "
                                    "multiplexed rendering of each event", value=groups)
            replays, replayed = scraped["replays"]
            yield CounterMetricFamily("tandem_subscription_replays", "Outbox catch-ups subscriptions ran (at start "
                                      "and after a broker reconnect)", value=replays)
            yield CounterMetricFamily("tandem_subscription_replayed_events", "Events subscriptions replayed from "
                                      "the outbox", value=replayed)
            runs = CounterMetricFamily("tandem_scheduler_runs", "Scheduler rounds by outcome (skipped: another "
                                       "process held the lock)", labels=["outcome"])
            for outcome in ("done", "skipped", "failed"):
                runs.add_metric([outcome], scraped["scheduler"].get(outcome, 0))
            yield runs
            in_use = GaugeMetricFamily("tandem_db_pool_checked_out", "Database connections in use, by pool",
                                       labels=["pool"])
            size = GaugeMetricFamily("tandem_db_pool_size", "Database connections the pool keeps, by pool",
                                     labels=["pool"])
            for name, pool in scraped["pools"].items():
                if pool is not None:
                    in_use.add_metric([name], pool[0])
                    size.add_metric([name], pool[1])
            yield in_use
            yield size
        if "backlog" in scraped:
            count, age = scraped["backlog"]
            yield GaugeMetricFamily("tandem_outbox_backlog", "Committed outbox events not yet published", value=count)
            yield GaugeMetricFamily("tandem_outbox_oldest_unpublished_seconds", "Age of the oldest unpublished "
                                    "outbox event (0 when none waits)", value=age)


def _bearer_ok(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unauthorized() -> JSONResponse:
    return JSONResponse({"errors": [{"message": "GET /metrics needs the metrics bearer token.",
                                     "extensions": {"code": "UNAUTHENTICATED"}}]},
                        status_code=401, headers={"www-authenticate": "Bearer"})


def metrics_endpoint(metrics: Metrics, settings: Settings) -> Any:
    """``GET /metrics`` on the API's port. With ``metrics_port`` set it is not served here (404, as any
    unknown path). With ``metrics_token`` set it needs that bearer token (401 without). With neither, it
    answers clients on a loopback address that came through no proxy (no ``X-Forwarded-For`` or
    ``Forwarded`` header), and 404 to everyone else: a public API does not show its metrics."""

    async def endpoint(request: Request) -> Response:
        if settings.metrics_port is not None:
            return PlainTextResponse("Not Found", status_code=404)
        if settings.metrics_token is not None:
            if not _bearer_ok(request.headers.get("authorization"), settings.metrics_token):
                return _unauthorized()
        elif (not _loopback(request.client.host if request.client else None)
              or "x-forwarded-for" in request.headers or "forwarded" in request.headers):
            return PlainTextResponse("Not Found", status_code=404)
        body, content_type = await metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    return endpoint


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsServer:
    """``/metrics`` on a port of its own (``metrics_port``), from a thread: a scrape waits for the event
    loop to :meth:`Metrics.refresh`, then prometheus-client's WSGI app writes the registry. The bearer
    token applies here too when set."""

    def __init__(self, metrics: Metrics, settings: Settings) -> None:
        self.metrics = metrics
        self.settings = settings
        self.port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        assert self.settings.metrics_port is not None
        loop = asyncio.get_running_loop()
        exposition = make_wsgi_app(self.metrics.registry)
        token = self.settings.metrics_token

        def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
            if environ.get("PATH_INFO") != "/metrics":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return iter([b"Not Found"])
            if token is not None and not _bearer_ok(environ.get("HTTP_AUTHORIZATION"), token):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
                return iter([b"GET /metrics needs the metrics bearer token."])
            try:
                asyncio.run_coroutine_threadsafe(self.metrics.refresh(), loop).result(BACKLOG_TIMEOUT + 2)
            except Exception:  # the event loop is stopping, or too busy to answer in time
                log.warning("metrics: scrape not answered", exc_info=True)
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return iter([b"Metrics are not available now."])
            return iter(exposition(environ, start_response))

        host = self.settings.metrics_host
        family = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
        server_class = type("MetricsWSGIServer", (ThreadingWSGIServer,), {"address_family": family})
        first = self.settings.metrics_port
        for port in range(first, min(first + PORT_TRIES, 65536)):
            try:
                self._server = make_server(host, port, app, server_class=server_class, handler_class=_Quiet)
            except OSError:
                continue
            self.port = port
            break
        else:
            raise OSError(f"no free port for /metrics from {first} to {min(first + PORT_TRIES, 65536) - 1}")
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        log.info("metrics served", extra={"fields": {"host": host, "port": self.port}})

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
