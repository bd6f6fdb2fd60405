"""OpenTelemetry traces, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set and the ``otel`` extra is installed: a span for each HTTP request (with the GraphQL operation, the user
and the org, and the answer's error codes as attributes) and one for each SQL statement run through
SQLAlchemy, exported over OTLP/HTTP in batches. The SDK reads its other ``OTEL_*`` variables itself
(``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER``...).

Websockets are not traced: every message would be a span, ten thousand per event at a busy fan-out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tandem.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """One app's tracer provider and SQL instrumentation; ``None`` from :meth:`from_environment` when off."""

    def __init__(self, provider: Any, instrumentor: Any, middleware: Any, current_span: Any) -> None:
        self.provider = provider
        self._instrumentor = instrumentor
        self._middleware = middleware
        self.current_span = current_span

    @classmethod
    def from_environment(cls) -> Tracing | None:
        if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace import get_current_span
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed "
                        "(pip install 'tandem[otel]'): running without traces")
            return None
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "tandem"}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider, SQLAlchemyInstrumentor(), OpenTelemetryMiddleware, get_current_span)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """A server span around each HTTP request (the outermost middleware, so it covers the rest)."""
        return self._middleware(app, tracer_provider=self.provider, exclude_spans=["receive", "send"])

    def start(self, engines: Sequence[AsyncEngine]) -> None:
        # The instrumentation declares SQLAlchemy below 2.1 and would do nothing on ours; the engine events it
        # listens to are the same in 2.1 (tests/test_metrics.py checks the statements' spans).
        self._instrumentor.instrument(engines=[e.sync_engine for e in engines], tracer_provider=self.provider,
                                      skip_dep_check=True)

    def stop(self) -> None:
        self._instrumentor.uninstrument()
        self.provider.shutdown()


def _annotate(span: Any, state: dict[str, Any]) -> None:
    """What the endpoint noted about the request (tandem/middleware.py ``note``), on its server span."""
    if state.get("operation") is not None:
        span.set_attribute("graphql.operation.name", state["operation"])
    if state.get("user_id") is not None:
        span.set_attribute("enduser.id", str(state["user_id"]))
    if state.get("org_id") is not None:
        span.set_attribute("tandem.org_id", str(state["org_id"]))
    if state.get("error_codes"):
        span.set_attribute("graphql.error_codes", [str(code) for code in state["error_codes"]])


class TracedRequests:
    """Pure ASGI middleware: HTTP requests through OpenTelemetry's ASGI middleware, with the endpoint's
    notes set on the server span as the response starts; websockets (and lifespan) untouched."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.traced = tracing.middleware(app)
        self.current_span = tracing.current_span

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                _annotate(self.current_span(), scope.get("state") or {})
            await send(message)

        await self.traced(scope, receive, send_noted)
