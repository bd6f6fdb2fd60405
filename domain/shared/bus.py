"""The message bus: typed, past-tense domain events dispatched inside the unit of work that raised them.

An area announces what happened (``OpportunityWon``, ``MilestoneReached``, ``ContractTerminated``...,
frozen dataclasses declared in the raising area's ``events.py``); areas that care register a reaction
with ``@handles(EventType)`` in their own modules, and the raising area never imports them. Reactions
run in registration order, in the caller's session, so they commit or roll back with the change; a
reaction that raises fails the whole operation. Nothing here publishes: the outward feed is the outbox.

An event with an outward form names its one writer with ``@outward(EventType)``: it writes the
event's outbox row(s) from the event, after the reactions ran, and is handed what they returned (a
terminated contract's row says how many installments billing cancelled). A writer registered with
``first=True`` writes before the reactions instead (its row is the cause; the rows the reactions write,
a risk raised by logged time, follow it) and is handed no results. So the outward feed and the inward
reactions come from the same event and cannot disagree.

Registration happens at import: every area imports its reacting modules in its ``__init__.py`` and
``domain/__init__.py`` imports every area, so importing anything from ``domain`` registers them all
before any service runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .actor import Actor

Reaction = Callable[[AsyncSession, Actor | None, Any], Awaitable[Any]]
Writer = Callable[[AsyncSession, Actor | None, Any, list[Any]], Awaitable[None]]

_reactions: defaultdict[type, list[Reaction]] = defaultdict(list)
_writers: dict[type, Writer] = {}
_first: set[type] = set()


def handles(*event_types: type) -> Callable[[Reaction], Reaction]:
    """Register the decorated coroutine ``(session, actor, event)`` as a reaction to each event type."""
    def register(reaction: Reaction) -> Reaction:
        for event_type in event_types:
            if reaction not in _reactions[event_type]:
                _reactions[event_type].append(reaction)
        return reaction
    return register


def outward(event_type: type, *, first: bool = False) -> Callable[[Writer], Writer]:
    """Register the decorated coroutine ``(session, actor, event, results)`` as the one writer of the
    event type's outbox row(s); ``results`` are the reactions' return values, in order (empty for a
    writer that runs ``first``, before them)."""
    def register(writer: Writer) -> Writer:
        existing = _writers.get(event_type)
        if existing is not None and existing is not writer:
            raise RuntimeError(f"{event_type.__name__} has an outward writer already: {existing.__qualname__}")
        _writers[event_type] = writer
        if first:
            _first.add(event_type)
        return writer
    return register


def reactions_to(event_type: type) -> list[Reaction]:
    return list(_reactions.get(event_type, ()))


def writer_of(event_type: type) -> Writer | None:
    return _writers.get(event_type)


async def dispatch(session: AsyncSession, actor: Actor | None, event: Any) -> list[Any]:
    """Run the event's reactions, then write its outward row(s); returns what the reactions returned.
    ``actor`` is who caused it (None for the scheduler and system work)."""
    writer = _writers.get(type(event))
    first = type(event) in _first
    if writer is not None and first:
        await writer(session, actor, event, [])
    results = [await reaction(session, actor, event) for reaction in _reactions.get(type(event), ())]
    if writer is not None and not first:
        await writer(session, actor, event, results)
    return results
