"""Waiting on a condition instead of sleeping for a guessed while.

``eventually`` polls until something holds and fails with what it was waiting for when it does not in time.
A test that must show that nothing happens for a while (a quiet period) says so by name instead
(``Socket.nothing_more``, ``quiet_for``); only those wait a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 10.0
"""Seconds before anything we wait for is declared missing."""
POLL = 0.01
"""Seconds between two looks at the condition."""


async def eventually(check: Callable[[], T | Awaitable[T]], *, within: float = DEADLINE,
                     what: str | Callable[[], str] = "the condition", every: float = POLL) -> T:
    """Call ``check`` (plain or async) until it returns something truthy, and return that; fail after ``within``
    seconds, naming ``what`` was awaited (a callable is asked at the end, to tell what was last seen)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {within} s waiting for {_said(what)} (last seen: {result!r})")
        await asyncio.sleep(every)


def eventually_blocking(check: Callable[[], T], *, within: float = DEADLINE,
                        what: str | Callable[[], str] = "the condition", every: float = 0.05) -> T:
    """``eventually`` for code that is not async (a fixture starting a server process)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within} s waiting for {_said(what)} (last seen: {result!r})")
        time.sleep(every)


def _said(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


async def quiet_for(seconds: float) -> None:
    """Let ``seconds`` pass on purpose: the test then asserts that something did NOT happen meanwhile."""
    await asyncio.sleep(seconds)


__all__ = ["DEADLINE", "eventually", "eventually_blocking", "quiet_for"]
