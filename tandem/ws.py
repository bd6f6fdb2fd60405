"""GraphQL subscriptions over the websocket: graphql-transport-ws only (the legacy graphql-ws
subprotocol is not offered), authenticated in connection_init, capped per connection and per user,
closed with 4403 when the token expires."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from broadcaster import Broadcast
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from authz.guard import Guard
from authz.policy import PolicyStore
from realtime.cursor import FeedCursors
from realtime.hub import Hub
from resolvers.context import Context

from .auth import AuthError, authenticate, bearer, verify_token
from .db import Database
from .settings import Settings


@dataclass
class Realtime:
    broadcast: Broadcast
    cursors: FeedCursors
    hub: Hub


class WebSocketGraphQL(GraphQL):
    def __init__(self, schema: Any, *, db: Database, settings: Settings, policies: PolicyStore,
                 realtime: Realtime) -> None:
        super().__init__(
            schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
        )
        self.db = db
        self.settings = settings
        self.policies = policies
        self.realtime = realtime
        self.per_user: Counter[int] = Counter()
        self._owners: dict[int, tuple[int, asyncio.TimerHandle | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            owner = self._owners.pop(id(scope), None)
            if owner is not None:
                user_id, timer = owner
                self.per_user[user_id] -= 1
                if timer is not None:
                    timer.cancel()

    async def get_context(self, request: Any, response: Any = None) -> Context:
        return Context(db=self.db, settings=self.settings, request=request, policies=self.policies,
                       realtime=self.realtime, long_lived=True)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("authorization") or params.get("Authorization")
        actor, _reason = await authenticate(self.db, self.settings, header if isinstance(header, str) else None)
        if actor is None:
            raise ConnectionRejectionError()
        if self.per_user[actor.user_id] >= self.settings.ws_max_connections_per_user:
            raise ConnectionRejectionError({"code": "TOO_MANY_CONNECTIONS"})
        try:
            expires = verify_token(self.settings, bearer(header) or "")["exp"]
        except (AuthError, KeyError):
            raise ConnectionRejectionError() from None
        guard = Guard(await self.policies.for_org(actor.org_id), actor.roles)
        context.actor_or_none = replace(actor, scopes=guard.scopes)
        context.guard = guard
        websocket = context.request
        timer = asyncio.get_running_loop().call_later(
            max(0.0, expires - time.time()), lambda: asyncio.ensure_future(_expire(websocket)))
        self.per_user[actor.user_id] += 1
        self._owners[id(websocket.scope)] = (actor.user_id, timer)
        return None


async def _expire(websocket: Any) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=4403, reason="Token expired")
