"""The per-request context: who is asking, a read session, and the request's DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.authz.guard import Guard
from tandem.domain.shared.actor import Actor

from .loaders import Loaders


class Unauthenticated(GraphQLError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, extensions={"code": "UNAUTHENTICATED"})


class RequestEnded(GraphQLError):
    """A resolver left running after its operation's answer was decided (a sibling of a failed
    non-null field, or a cancelled request) asked for the database: nobody reads its result."""

    def __init__(self) -> None:
        super().__init__("The request has ended.", extensions={"code": "REQUEST_ENDED"})


_closing: set[asyncio.Task[None]] = set()
"""Closes that go on after the request that started them was cancelled (held so they finish)."""


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
    _users: int = field(default=0, init=False, repr=False)
    _idle: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)
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

    def __post_init__(self) -> None:
        self._idle.set()

    def for_operation(self, *, long_lived: bool) -> Context:
        """A context for one operation over this connection's: the same actor, guard and services,
        its own forbidden fields and, unless ``long_lived`` (a subscription), its own session and
        loaders, as an HTTP request has (close it when the operation ends)."""
        return replace(self, long_lived=long_lived, forbidden_fields={}, _session=None, _loaders=None,
                       _lock=asyncio.Lock())

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
        with self._in_use():
            async with self._lock:
                if self._closed:
                    raise RequestEnded()
                if self._session is None:
                    self._session = self.db.session(self.actor.org_id)
                yield self._session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self.long_lived:
            async with self.db.write(self.actor.org_id) as session:
                yield session
            return
        with self._in_use():
            async with self.db.write(self.actor.org_id) as session:
                yield session

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        """Counts a read or write under way, so that ``close()`` can wait for it."""
        if self._closed:
            raise RequestEnded()
        self._users += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                self._idle.set()

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
        """End the request's database use: refuse new reads and writes, wait for those under way
        (a DataLoader batch or a sibling of a failed field may outlive the operation's answer), then
        close the session. If the caller is cancelled meanwhile, the close still completes."""
        self._closed = True
        if self._users == 0 and self._session is None:
            return
        task = asyncio.ensure_future(self._close_when_idle())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
        await asyncio.shield(task)

    async def _close_when_idle(self) -> None:
        await self._idle.wait()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
