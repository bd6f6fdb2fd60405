"""A graphql-transport-ws client for tests, with a deadline on every receive (``connect``, ``Socket``), a client
that can stop reading (``StalledClient``), apps of a test's own (``app_with``), the subscription documents
several test modules share, where the change feed ends now (``feed_end``), and subscribing live
(``subscribe_live``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.app import create_app
from tandem.db import outbox_listeners
from tandem.domain.shared.outbox import OutboxEvent
from tandem.settings import Settings
from tests.factories.waiting import eventually

BASE = "http://tandem.test"
PROTOCOL = "graphql-transport-ws"
WAIT = 10.0
"""Deadline for anything we expect to arrive."""
QUIET = 1.5
"""How long we listen to conclude that nothing more arrives."""

TIMELINE = """
subscription ($recordId: ID!, $after: String) {
  recordTimeline(recordId: $recordId, after: $after) {
    cursor kind summary recordType recordId data actor { email }
  }
}"""

COMMENT_THREAD = """
subscription ($recordId: ID!, $after: String) {
  commentThread(recordId: $recordId, after: $after) { cursor kind recordType recordId data actor { email } }
}"""

CHANGE_FEED = """
subscription ($types: [String!], $after: String) {
  changeFeed(types: $types, after: $after) {
    cursor topic recordType recordId operation payload actor { email }
  }
}"""

FEED_PAGE = """
query ($after: String) { changeEvents(after: $after, first: 500) { endCursor hasMore } }"""


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.held: dict[str | None, list[dict[str, Any]]] = defaultdict(list)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def receive(self, within: float = WAIT) -> dict[str, Any]:
        return await asyncio.wait_for(self.ws.receive_json(), within)

    async def init(self, token: str) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        return await self.receive()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    async def message(self, op_id: str, within: float = WAIT) -> dict[str, Any]:
        """The next message of one operation (others are held for their own readers)."""
        if self.held[op_id]:
            return self.held[op_id].pop(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            message = await self.receive(max(0.0, deadline - loop.time()))
            if message.get("id") == op_id:
                return message
            self.held[message.get("id")].append(message)

    async def events(self, op_id: str, count: int, field: str) -> list[dict[str, Any]]:
        """``count`` events of a subscription; fails on an error, a completion or a missing event."""
        out = []
        for _ in range(count):
            message = await self.message(op_id)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            out.append(message["payload"]["data"][field])
        return out

    async def nothing_more(self, seconds: float = QUIET) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds`` (a test expecting silence asserts this is empty)."""
        got = [m for messages in self.held.values() for m in messages]
        self.held.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                got.append(await self.receive(left))
            except TimeoutError:
                break
        return got


@contextlib.asynccontextmanager
async def connect(app: Any, token: str | None = None, *, subprotocols: list[str] | None = None,
                  ) -> AsyncIterator[Socket]:
    """A websocket to ``/graphql``; with ``token``, initialised and acknowledged."""
    async with (
        httpx.AsyncClient(transport=ASGIWebSocketTransport(app), base_url=BASE) as http,
        aconnect_ws(f"{BASE}/graphql", http, subprotocols=[PROTOCOL] if subprotocols is None else subprotocols)
        as ws,
    ):
        socket = Socket(ws)
        if token is not None:
            ack = await socket.init(token)
            assert ack["type"] == "connection_ack", ack
        yield socket


@contextlib.asynccontextmanager
async def app_with(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    """An app of its own, with other settings, for the length of a test."""
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            await halt(application.state.relay)


async def halt(relay: Any) -> None:
    """Stop a relay's task for sure. ``Relay.stop()`` alone can hang on Python 3.11: a wake-up
    that lands as the task is cancelled makes ``asyncio.wait_for`` swallow the cancellation."""
    task = relay._task
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)


@contextlib.asynccontextmanager
async def shared_relay_paused(shared: Any) -> AsyncIterator[None]:
    """The session app's relay sits out: with the in-memory broker an event reaches only the
    subscribers of the app whose relay published it, so a test app must publish its own."""
    relay = shared.state.relay
    outbox_listeners.remove(relay.wake)
    await halt(relay)
    await relay.stop()
    try:
        yield
    finally:
        outbox_listeners.append(relay.wake)
        await relay.start()


class StalledClient:
    """A graphql-transport-ws client driven at the ASGI level that can stop reading: the server's
    sends then block, as they do when a client stops reading its TCP socket."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.to_server: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_server: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reading = asyncio.Event()
        self.reading.set()
        self.task: asyncio.Task[None] | None = None

    async def _server_sends(self, message: dict[str, Any]) -> None:
        await self.reading.wait()
        await self.from_server.put(message)

    async def __aenter__(self) -> StalledClient:
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
                 "path": "/graphql", "raw_path": b"/graphql", "root_path": "", "query_string": b"",
                 "headers": [(b"host", b"tandem.test")], "client": ("127.0.0.1", 50000),
                 "server": ("tandem.test", 80), "subprotocols": [PROTOCOL], "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.to_server.get, self._server_sends))
        await self.to_server.put({"type": "websocket.connect"})
        accept = await asyncio.wait_for(self.from_server.get(), WAIT)
        assert accept["type"] == "websocket.accept", accept
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reading.set()
        await self.to_server.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, WAIT)

    async def send(self, message: dict[str, Any]) -> None:
        await self.to_server.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self, within: float = WAIT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.from_server.get(), within)
        assert raw["type"] == "websocket.send", raw
        return json.loads(raw["text"])


async def feed_end(gql: Any, app: Any, *, as_: str) -> str:
    """The change feed's current end, read the way a client would (so a test hears only new events), once
    everything committed so far has its position (a bare drain can find another relay at it on PostgreSQL)."""
    await positioned(app)
    after = None
    while True:
        page = (await gql(FEED_PAGE, {"after": after}, as_=as_))["data"]["changeEvents"]
        after = page["endCursor"]
        if not page["hasMore"]:
            return after


async def positioned(app: Any) -> None:
    """Once the relay has positioned every event committed so far."""
    relay = app.state.relay

    async def nothing_unpositioned() -> bool:
        await relay.drain()
        async with AsyncSession(relay.engine) as session:
            return await session.scalar(select(OutboxEvent.id).where(OutboxEvent.position.is_(None)).limit(1)) is None

    await eventually(nothing_unpositioned, what="the relay to position every committed event")


async def subscribe_live(app: Any, client: Any, op_id: str, query: str, variables: dict[str, Any]) -> None:
    """Subscribe without `after` and return once the subscription is live: it has taken the outbox's end
    (``Hub.replays`` counts it then), so what commits from now on reaches it and nothing before does. What
    was committed before is positioned first: an event committed and not yet positioned when a subscription
    starts is delivered to it (it is after the end the subscription takes), which a test means as history."""
    await positioned(app)
    hub = app.state.realtime.hub
    before = hub.replays
    await client.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
    await eventually(lambda: hub.replays > before, what=f"subscription {op_id} to start live")


def error_codes(message: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in message["payload"]["errors"]]
