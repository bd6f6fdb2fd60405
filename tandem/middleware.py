"""Pure ASGI middleware: request ids with a structured access log, and a request body limit."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("tandem.access")
SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)


RAW_SEND = "tandem.raw_send"
"""Where a websocket's scope state keeps the server's own ``send``: the subscription fan-out sends each
``websocket.send`` straight through it, past the middlewares' wrappers (none of which does anything to a
websocket message after the handshake), which at ten thousand subscribers per event is worth it."""


LOGGED = ("operation", "user_id", "org_id", "error_codes", "cost")
"""What an endpoint may note about a request in its scope state (``note``) for the access log line:
the GraphQL operation's name, who asked (from the verified token), the answer's error codes, its cost."""


def note(scope: Scope, **fields: Any) -> None:
    """Tell the access log (and the metrics) about the request being answered."""
    scope.setdefault("state", {}).update(fields)


class Observer(Protocol):
    websockets: int

    def observe(self, state: dict[str, Any], seconds: float) -> None: ...


class RequestLog:
    """Gives every request an id (X-Request-ID, echoed back) and logs one JSON line per request, with what
    the endpoint noted (``note``); hands a GraphQL request's notes and time to the metrics, and counts the
    websockets open."""

    def __init__(self, app: ASGIApp, metrics: Observer | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if SAFE_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        if scope["type"] == "websocket":
            state[RAW_SEND] = send
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        metrics = self.metrics
        websocket = scope["type"] == "websocket" and metrics is not None
        if websocket:
            metrics.websockets += 1  # type: ignore[union-attr]
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if websocket:
                metrics.websockets -= 1  # type: ignore[union-attr]
            elif metrics is not None and "operation" in state:
                metrics.observe(state, seconds)
            fields = {"request_id": request_id, "method": scope.get("method", "WS"), "path": scope.get("path"),
                      "status": status, "duration_ms": round(seconds * 1000, 2)}
            for name in LOGGED:
                if state.get(name) is not None:
                    fields[name] = state[name]
            access_log.info("request", extra={"fields": fields})


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413 and a JSON error, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"errors": [{"message": f"The request body is larger than {self.max_bytes} bytes.",
                                       "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass
