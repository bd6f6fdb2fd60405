"""The per-request context: who is asking, a read session, and the request's DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession

from authz.guard import Guard
from domain.shared.actor import Actor

from .loaders import Loaders


class Unauthenticated(GraphQLError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, extensions={"code": "UNAUTHENTICATED"})


@dataclass
class Context:
    db: Any  # tandem.db.Database: .sessions, .write()
    settings: Any  # tandem.settings.Settings
    actor_or_none: Actor | None = None
    auth_error: str = "A valid bearer token is required."
    request: Any = None
    response: Any = None
    _session: AsyncSession | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None
    guard: Guard | None = None
    policies: Any = None  # authz.policy.PolicyStore: admin mutations invalidate it
    on_policy_change: Any = None  # callable(org_id): tells other processes a policy changed
    realtime: Any = None  # .broadcast (broadcaster.Broadcast) and .cursors (realtime.cursor.FeedCursors)
    connection_params: Any = None  # graphql-transport-ws connection_init payload
    long_lived: bool = False
    """A websocket's context lives as long as the connection: it holds no session and caches nothing."""
    forbidden_fields: dict[str, list[Any]] = field(default_factory=dict)
    """First path at which each denied ``Type.field`` was asked for."""

    def forbid_field(self, type_name: str, field_name: str, path: list[Any]) -> None:
        self.forbidden_fields.setdefault(f"{type_name}.{field_name}", path)

    @property
    def actor(self) -> Actor:
        if self.actor_or_none is None:
            raise Unauthenticated(self.auth_error)
        return self.actor_or_none

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """The request's read session; one statement at a time (sibling fields resolve concurrently)."""
        if self.long_lived:
            async with self.db.read(self.actor.org_id) as session:
                yield session
            return
        async with self._lock:
            if self._session is None:
                self._session = self.db.session(self.actor.org_id)
            yield self._session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self.db.write(self.actor.org_id) as session:
            yield session

    @property
    def authz(self) -> Guard:
        self.actor  # noqa: B018 - raises UNAUTHENTICATED first
        assert self.guard is not None
        return self.guard

    @property
    def loaders(self) -> Loaders:
        if self.long_lived:
            return Loaders(self)
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
