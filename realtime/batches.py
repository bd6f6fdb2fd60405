"""Lookups that many subscriptions ask for at once, answered by one database round trip.

A thousand subscribers connecting together each need their user, the record's visibility, the
outbox's pruned position and the record's timeline to replay. Asked through :class:`Batches`, the
keys asked while a lookup of the same group runs wait for it to end, then go together in the next
one. No answer is older than its question: every lookup starts after each key it answers was asked,
so a batch is as fresh as a lookup of one's own (nothing is cached). A group must name everything a
lookup's answer depends on (org, permission view, record, ...): any asker's ``load`` may run for all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any

__all__ = ["Batches", "Load"]

Load = Callable[[Sequence[Any]], Awaitable[Mapping[Any, Any]]]
"""Answers for some keys of one group: a mapping from key to answer (a missing key answers None)."""


class _Batch:
    __slots__ = ("load", "waiting")

    def __init__(self, load: Load) -> None:
        self.load = load
        self.waiting: dict[Hashable, asyncio.Future[Any]] = {}


class Batches:
    def __init__(self, *, max_keys: int = 500) -> None:
        self.max_keys = max_keys
        self._next: dict[Hashable, _Batch] = {}
        self._running: set[Hashable] = set()
        self.loads = 0
        """How many lookups ran (for tests and benchmarks)."""

    async def get(self, group: Hashable, key: Hashable, load: Load) -> Any:
        """The answer for ``key`` of ``group``, from a lookup that starts after this call: now if
        none of the group is running, else as soon as the running one ends."""
        batch = self._next.get(group)
        if batch is None:
            batch = self._next[group] = _Batch(load)
            if group not in self._running:
                self._running.add(group)
                asyncio.get_running_loop().create_task(self._run(group))
        future = batch.waiting.get(key)
        if future is None:
            future = batch.waiting[key] = asyncio.get_running_loop().create_future()
        if future.done():
            return future.result()
        return await asyncio.shield(future)  # one asker going away cancels nobody else's answer

    async def _run(self, group: Hashable) -> None:
        try:
            while (batch := self._next.pop(group, None)) is not None:
                if len(batch.waiting) > self.max_keys:  # the rest go next
                    keys = list(batch.waiting)
                    rest = _Batch(batch.load)
                    rest.waiting = {k: batch.waiting.pop(k) for k in keys[self.max_keys:]}
                    self._next[group] = rest
                await self._answer(batch)
        finally:
            self._running.discard(group)
            stranded = self._next.pop(group, None)  # only if this task was cancelled
            if stranded is not None:
                for future in stranded.waiting.values():
                    future.cancel()

    async def _answer(self, batch: _Batch) -> None:
        self.loads += 1
        try:
            found = await batch.load(list(batch.waiting))
        except BaseException as exc:
            for future in batch.waiting.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved: askers that left must not leave it unreported
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for key, future in batch.waiting.items():
            if not future.done():
                future.set_result(found.get(key))
