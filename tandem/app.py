"""The Starlette application, assembled in one place: routes, middleware, lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from tandem.authz.policy import PolicyStore
from tandem.realtime.broker import Broker
from tandem.realtime.cursor import FeedCursors
from tandem.realtime.hub import Hub
from tandem.realtime.presence import Presence
from tandem.realtime.relay import Relay

from . import graphiql
from .auth import VerifiedTokens
from .db import Database, create_engine, outbox_listeners
from .graphql import build_schema
from .http import GraphQLEndpoint
from .metrics import Metrics, MetricsServer, Sources, metrics_endpoint
from .middleware import BodyLimit, RequestLog
from .persisted import PersistedQueries
from .ratelimit import RateLimits
from .scheduler import Scheduler
from .settings import Settings, get_settings
from .tracing import TracedRequests, Tracing
from .ws import Realtime, WebSocketGraphQL

log = logging.getLogger("tandem")


def create_app(settings: Settings | None = None, *, authorization: bool = True) -> Starlette:
    """The app. ``authorization=False`` (org isolation only) exists for bench/authz.py to measure its cost."""
    settings = settings or get_settings()
    db = Database(create_engine(settings, app_role=True))
    broker = Broker(settings.redis_url)
    policies = PolicyStore(db.engine, poll_seconds=settings.policy_poll_seconds)
    schema = build_schema(settings, field_guard=authorization)

    async def policy_changed(org_id: int) -> None:
        policies.invalidate(org_id)
        await broker.announce_policy_change(org_id)

    realtime = Realtime(broker.broadcast, FeedCursors(settings.jwt_secret), Hub(broker.broadcast),
                        presence=Presence(broker.broadcast, settings.redis_url, ttl=settings.presence_ttl_seconds))
    # The relay works across orgs, so it connects as the owner, not under row-level security; so does the
    # mapping of an identity provider's tokens to users (of any org).
    relay_engine = create_engine(settings)
    tokens = VerifiedTokens(settings, owner_engine=relay_engine)  # HTTP and the websocket verify a token once
    persisted = PersistedQueries(settings, db, schema)  # and share the persisted queries
    limits = RateLimits(settings)  # HTTP and the websocket draw on the same budgets
    graphql = GraphQLEndpoint(schema, db, settings, policies, policy_changed, realtime,
                              authorization=authorization, tokens=tokens, persisted=persisted,
                              limits=limits)
    websocket = WebSocketGraphQL(schema, db=db, settings=settings, policies=policies, realtime=realtime,
                                 on_policy_change=policy_changed, tokens=tokens, persisted=persisted, limits=limits)
    relay = Relay(relay_engine, broker.broadcast, idle_seconds=settings.relay_idle_seconds,
                  retention=timedelta(days=settings.outbox_retention_days))
    scheduler = Scheduler(relay_engine, interval_seconds=settings.scheduler_interval_seconds)
    metrics = Metrics(max_operations=settings.metrics_max_operations)
    metrics.sources = Sources(hub=realtime.hub, relay=relay, scheduler=scheduler, outbox_engine=relay_engine,
                              pools={"api": db.engine, "relay": relay_engine})
    relay.on_published = metrics.relay_published
    metrics_server = MetricsServer(metrics, settings) if settings.metrics_port is not None else None
    tracing = Tracing.from_environment()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broker.connect()
        broker.follow_policy_changes(policies.invalidate)
        outbox_listeners.append(relay.wake)
        await relay.start()
        await scheduler.start()
        if tracing is not None:
            tracing.start([db.engine, relay_engine])
        if metrics_server is not None:
            metrics_server.start()
        sessions = asyncio.create_task(websocket.follow_sessions(broker.broadcast), name="sessions")
        _settle_garbage_collector()
        log.info("tandem started", extra={"fields": {"database": db.dialect,
                                                     "broker": "redis" if settings.redis_url else "memory"}})
        try:
            yield
        finally:
            outbox_listeners.remove(relay.wake)
            if metrics_server is not None:
                await metrics_server.stop()
            while not sessions.done():  # a cancel that lands in redis-py's connect can be swallowed (3.11)
                sessions.cancel()
                await asyncio.wait({sessions}, timeout=0.5)
            await realtime.presence.close()
            await scheduler.stop()
            await relay.stop()
            await relay_engine.dispose()
            await broker.disconnect()
            await limits.close()
            await persisted.close()
            await db.dispose()
            if tracing is not None:
                tracing.stop()
            log.info("tandem stopped")

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        checks = {"database": await _database_ok(db), "broker": await broker.ping()}
        ok = all(checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    middleware = [
        *([Middleware(TracedRequests, tracing=tracing)] if tracing is not None else []),
        Middleware(RequestLog, metrics=metrics),
        Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
                   allow_headers=["authorization", "content-type", "x-request-id"],
                   expose_headers=["x-request-id"], max_age=600),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
    ]
    routes = [
        Route("/graphql", graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        WebSocketRoute("/graphql", websocket),
        graphiql.assets(),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint(metrics, settings)),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan, debug=False,
                    exception_handlers={Exception: _internal_error})
    app.state.db = db
    app.state.settings = settings
    app.state.schema = schema
    app.state.broker = broker
    app.state.policies = policies
    app.state.relay = relay
    app.state.scheduler = scheduler
    app.state.realtime = realtime
    app.state.compiled_reads = graphql.compiled
    app.state.rate_limits = limits
    app.state.persisted = persisted
    app.state.metrics = metrics
    app.state.metrics_server = metrics_server
    app.state.tracing = tracing
    return app


def _settle_garbage_collector() -> None:
    """The long-lived objects of a started process (modules, the schema, policies) leave the
    collector's generations, and young collections run less often: full collections over them were
    a fifth of a busy server's CPU (measured with bench/query.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc,
              extra={"fields": {"request_id": request.scope.get("state", {}).get("request_id")}})
    return JSONResponse({"errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL"}}]},
                        status_code=500)


async def _database_ok(db: Database) -> bool:
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means not ready; the reason goes to the log
        log.warning("readiness: database unreachable", exc_info=True)
        return False
