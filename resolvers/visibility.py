"""May this actor see this record: one answer, read from the record-type registry, for ``node(id)``,
comments, meetings, record timelines, sharing and the change feed. A record of another org, or out of
the actor's row scope, is NOT_FOUND (never "forbidden")."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import strawberry

from tandem.domain.registry import RECORD_TYPES, TIMELINE_TYPES
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import NotFound
from tandem.schema.node import from_global_id


async def visible_rows(session: Any, actor: Actor, type_name: str, ids: Iterable[int]) -> dict[int, Any]:
    """The rows of ``ids`` of ``type_name`` the actor may see (none of a type the registry does not know)."""
    record_type = RECORD_TYPES.get(type_name)
    if record_type is None or record_type.visible is None:
        return {}
    return await record_type.visible(session, actor, list(ids))


async def visible_ids(session: Any, actor: Actor, type_name: str, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` of ``type_name`` the actor may see."""
    return set(await visible_rows(session, actor, type_name, ids))


async def visible_record(info: strawberry.Info, record_id: str,
                         view: Callable[[str], Any] | None = None) -> tuple[str, int]:
    """(type, primary key) of a record with a timeline (one comments, meetings and ``recordTimeline``
    attach to) that the actor may see; NOT_FOUND for anything else. ``view(type)``: who sees the same rows
    of that type as the actor; askers of the same view at once share one lookup (realtime/batches.py,
    never cached: a decision is never older than its question)."""
    ctx = info.context
    actor = ctx.actor
    type_name, pk = from_global_id(record_id)
    if type_name not in TIMELINE_TYPES:
        raise NotFound(type_name, record_id)

    async def load(pks: Iterable[int]) -> dict[int, bool]:
        async with ctx.db.read(actor.org_id) as session:
            return dict.fromkeys(await visible_ids(session, actor, type_name, pks), True)

    if view is None:
        seen = (await load([pk])).get(pk)
    else:
        seen = await ctx.realtime.batches.get(("visible", type_name, view(type_name)), pk, load)
    if not seen:
        raise NotFound(type_name, record_id)
    return type_name, pk


async def visible_row(info: strawberry.Info, type_name: str, pk: int) -> Any:
    """The row of a record the actor may see, through the request's loader of its type; NOT_FOUND if
    absent, of another org or out of scope, or of a type ``node`` does not resolve."""
    found = await info.context.loaders.of(type_name).load(pk) if type_name in RECORD_TYPES else None
    if found is None:
        raise NotFound(type_name, pk)
    return found


__all__ = ["visible_ids", "visible_record", "visible_row", "visible_rows"]
