"""The one place mutations meet transactions, idempotency keys and userErrors."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.shared import idempotency
from tandem.domain.shared.errors import ValidationFailed
from tandem.schema.errors import UserError
from tandem.schema.node import decode_id

from .context import Context

T = TypeVar("T")
P = TypeVar("P")


def opt_id(type_name: str, gid: str | None) -> int | None:
    """Primary key of an optional global id argument (UNSET and None both mean "not given")."""
    if gid is None or gid is strawberry.UNSET:
        return None
    return decode_id(type_name, gid)


def named(input_obj: Any, *, skip: tuple[str, ...] = ("id", "version")) -> set[str]:
    """The input fields the client actually sent (strawberry.UNSET marks the others)."""
    return {f.name for f in dataclasses.fields(input_obj)
            if f.name not in skip and getattr(input_obj, f.name) is not strawberry.UNSET}


def value(input_obj: Any, name: str) -> Any:
    v = getattr(input_obj, name)
    return None if v is strawberry.UNSET else v


async def run(
    info: strawberry.Info,
    work: Callable[[AsyncSession], Awaitable[T]],
    payload: Callable[..., P],
) -> P:
    """Run ``work`` in one transaction; business-rule failures become the payload's userErrors."""
    ctx: Context = info.context
    try:
        async with ctx.write() as session:
            result = await work(session)
    except ValidationFailed as exc:
        return payload(user_errors=[UserError.from_domain(e) for e in exc.errors])
    return payload(result)


def _fingerprint_input(input_obj: Any) -> dict[str, Any]:
    data = strawberry.asdict(input_obj)
    data.pop("idempotency_key", None)
    return data


async def run_create(
    info: strawberry.Info,
    operation: str,
    input_obj: Any,
    create: Callable[[AsyncSession], Awaitable[Any]],
    load: Callable[[AsyncSession, int], Awaitable[Any]],
    payload: Callable[..., P],
) -> P:
    """A create mutation honouring ``input.idempotencyKey``: a retry (even 20 at once) executes
    once and returns the first result; the same key with another input is refused."""
    key = getattr(input_obj, "idempotency_key", None)
    if not key:
        return await run(info, create, payload)
    ctx: Context = info.context
    actor = ctx.actor
    try:
        idempotency.check_key(key)
    except ValidationFailed as exc:
        return payload(user_errors=[UserError.from_domain(e) for e in exc.errors])
    request_hash = idempotency.fingerprint(operation, _fingerprint_input(input_obj))

    async def once(session: AsyncSession) -> Any:
        stored = await idempotency.find(session, actor, key, operation, request_hash)
        if stored is not None:
            return await load(session, stored["id"])
        claim = idempotency.claim(session, actor, key, operation, request_hash)
        await session.flush()  # a concurrent twin waits here on the unique index
        created = await create(session)
        claim.result = {"id": created.id}
        return created

    try:
        return await run(info, once, payload)
    except IntegrityError:
        # A twin with the same key committed first: replay its result.
        return await run(info, once, payload)
