"""Multiplexed subscriptions: an event is authorized, executed and serialized once per group of
subscribers that would receive exactly the same bytes, then sent to each of them.

Hasura multiplexes live queries the same way. A group is every live subscriber with the same
document (and the variables its selection reads), the same org and the same permission view (the
same policy version and roles, so the same readable fields, and the same row-scope view of the
record the event is about). Each subscriber keeps its own stream: its replay after its own cursor,
its bounded queue and gap cut-off, its duplicate filter. Only the rendering is shared.

The transport (tandem/ws.py) gives each operation an :class:`Outlet` through a context variable:
how to execute the operation's selection on a root value and serialize it, how to send a payload to
that one operation, and the document part of the group key. The subscription resolvers look it up
with :func:`outlet`; without one (another transport, a test calling the schema directly) they yield
root values as any Strawberry subscription does.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["Group", "Outlet", "Renders", "outlet", "serving"]


@dataclass(frozen=True, slots=True)
class Outlet:
    key: Hashable
    """Identifies the document, operation name and the variables its selection reads (not, say,
    the ``after`` cursor or the record id, which only choose the events)."""
    render: Callable[[Any], Awaitable[str]]
    """Execute the operation's selection on a root value; the JSON of a ``next`` message's payload."""
    send: Callable[[str], Awaitable[None]]
    """Send a rendered payload to this operation's client as a ``next`` message."""
    render_many: Callable[[list[Any]], Awaitable[list[str]]] | None = None
    """``render`` of several root values in turn, sharing one database session and the loaders' answers
    (a replayed batch: its events' actors are read once, not once per event); None: one by one."""


_OUTLET: ContextVar[Callable[[], Outlet | None] | None] = ContextVar("tandem_subscription_outlet", default=None)


def outlet() -> Outlet | None:
    """The running operation's outlet, if its transport multiplexes it."""
    factory = _OUTLET.get()
    return factory() if factory is not None else None


@contextmanager
def serving(factory: Callable[[], Outlet | None]) -> Iterator[None]:
    """Run an operation (in the current task) whose resolver gets its outlet from ``factory`` (asked
    only once the resolver runs, so after the transport's parsing and validation of the document)."""
    token = _OUTLET.set(factory)
    try:
        yield
    finally:
        _OUTLET.reset(token)


class Group:
    """A render group's key, hashed once: subscribers look their renderings up by (group, event id) for
    every event, and the group part (document, variables, permission and row view) never changes. Get
    one with :meth:`Renders.group`: the subscribers of a group then share one instance, and a lookup
    compares identities, not the document's text."""

    __slots__ = ("__weakref__", "_hash", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Group) and self._hash == other._hash and self.key == other.key)


class Renders:
    """Each rendering done once per key, however many subscribers ask, while it is fresh.

    A rendering runs in a task of its own, so a subscriber that goes away while others wait for
    it cancels nothing; one that fails is forgotten (the next to ask tries again). Entries live
    ``ttl`` seconds, long enough for one event's fan-out and the replays around it, not for a
    later replay to see a decision or a name taken long before; at most ``max_entries`` are kept.
    """

    def __init__(self, *, ttl: float = 30.0, max_entries: int = 20_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, asyncio.Future[Any]]] = OrderedDict()
        self._groups: weakref.WeakValueDictionary[Hashable, Group] = weakref.WeakValueDictionary()
        self.rendered = 0
        """How many renderings ran (for tests and benchmarks)."""

    def __len__(self) -> int:
        return len(self._entries)

    def group(self, key: Hashable) -> Group:
        """The one Group of ``key`` while any subscriber holds it."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
        return group

    async def once(self, key: Hashable, render: Callable[[], Awaitable[Any]]) -> Any:
        now = asyncio.get_running_loop().time()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            future = entry[1]
        else:
            future = asyncio.ensure_future(render())
            self.rendered += 1
            self._entries[key] = (now + self.ttl, future)
            self._entries.move_to_end(key)
            future.add_done_callback(lambda done: self._forget_failed(key, done))
            self._trim(now)
        if future.done():
            return future.result()
        return await asyncio.shield(future)

    def _forget_failed(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            entry = self._entries.get(key)
            if entry is not None and entry[1] is future:
                del self._entries[key]

    def _trim(self, now: float) -> None:
        entries = self._entries
        while entries:
            _, (expires, _future) = next(iter(entries.items()))
            if expires > now and len(entries) <= self.max_entries:
                return
            entries.popitem(last=False)
