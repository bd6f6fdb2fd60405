"""Records one area refers to by id but another area owns.

An opportunity names its customer by id; the pipeline area sits below crm and must not import it,
yet creating an opportunity checks that the actor may see that customer. The owning area registers
how it reads its records (``@reads("Customer")`` on ``get_customer``), and the referring area asks
``referenced(session, actor, "Customer", id)``: the record when the actor may see it, NOT_FOUND
otherwise, exactly as the owner's own reader answers. Only reads go this way; effects on another
area go through the bus (domain/shared/bus.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .actor import Actor

Reader = Callable[[AsyncSession, Actor, int], Awaitable[Any]]

_readers: dict[str, Reader] = {}


def reads(record_type: str) -> Callable[[Reader], Reader]:
    """Register the decorated ``(session, actor, id) -> record`` (raising NotFound) as the reader of a type."""
    def register(reader: Reader) -> Reader:
        existing = _readers.get(record_type)
        if existing is not None and existing is not reader:
            raise RuntimeError(f"{record_type} has a reader already: {existing.__qualname__}")
        _readers[record_type] = reader
        return reader
    return register


async def referenced(session: AsyncSession, actor: Actor, record_type: str, record_id: int) -> Any:
    """The ``record_type`` record ``record_id`` as its owning area reads it for ``actor``."""
    reader = _readers.get(record_type)
    if reader is None:
        raise RuntimeError(f"no area registered a reader of {record_type} (is domain imported whole?)")
    return await reader(session, actor, record_id)
