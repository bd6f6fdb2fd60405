"""A record's history as pages — `timeline(recordId, ...)` from the outbox, `comments(recordId, ...)` from the
thread — each with the `liveCursor` its subscription goes on from: query, then subscribe, and every
later change arrives exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from tandem.domain.collaboration import comment as comments
from tandem.domain.collaboration.history import live_position, settled_position, timeline_events
from tandem.domain.shared import outbox
from tandem.domain.shared.pagination import PageRequest
from tandem.realtime.cursor import check_not_expired
from tandem.realtime.relay import event_message
from tandem.schema.comment import Comment
from tandem.schema.history import CommentConnection, CommentEdge, TimelineConnection, TimelineEdge
from tandem.schema.pagination import PageInfo, wants_total

from .events import authorize, to_timeline_entry
from .visibility import visible_record

T = TypeVar("T")

SETTLE_TRIES = 20
SETTLE_PAUSE = 0.025
"""How long a history query waits for the relay to position what was just committed (it does within
milliseconds): 20 × 25 ms at most, then it answers with the position it has."""


async def settled(info: strawberry.Info, read: Callable[[Any], Awaitable[T]]) -> tuple[T, int]:
    """``read(session)`` and the live position it is exact for: read between two looks at the outbox that
    agree and see nothing unpositioned, so whatever ``read`` saw is at or before the position and whatever
    it missed comes after it."""
    ctx = info.context
    org_id = ctx.actor.org_id
    for _ in range(SETTLE_TRIES):
        async with ctx.db.read(org_id) as session:
            before = await settled_position(session, org_id)
            found = await read(session)
            after = await settled_position(session, org_id)
        if before is not None and before == after:
            return found, before
        await asyncio.sleep(SETTLE_PAUSE)
    async with ctx.db.read(org_id) as session:
        found = await read(session)
        return found, await settled_position(session, org_id) or 0


@strawberry.type
class HistoryQuery:
    @strawberry.field(description="A record's shared timeline, oldest first: `first`/`after` from the start, "
                                  "`last`/`before` back from the newest. Entries you may not read are left out.")
    async def timeline(self, info: strawberry.Info, record_id: strawberry.ID, first: int | None = None,
                       after: str | None = None, last: int | None = None,
                       before: str | None = None) -> TimelineConnection:
        ctx = info.context
        actor = ctx.actor
        req = PageRequest(first=first, after=after, last=last, before=before)
        req.validate()
        record = await visible_record(info, record_id)
        cursors = ctx.realtime.cursors
        start = cursors.decode(actor.org_id, after) if after is not None else None
        end = cursors.decode(actor.org_id, before) if before is not None else None
        async with ctx.db.read(actor.org_id) as session:
            if start is not None or end is not None:  # a cursor retention let go is CURSOR_EXPIRED
                check_not_expired(min(p for p in (start, end) if p is not None), await outbox.pruned_through(session))
            # the page holds positions up to ``through``; the live timeline goes on after it: exact
            through = await live_position(session)
            rows, more = await timeline_events(session, actor.org_id, record, through=through, after=start,
                                               before=end, size=req.size, newest_first=req.backward)
        events = await authorize(ctx.db, actor, ctx.guard, [event_message(r) for r in rows])
        edges = [TimelineEdge(cursor=(c := cursors.encode(actor.org_id, e["position"])), node=to_timeline_entry(e, c))
                 for e in events]
        first_cursor = cursors.encode(actor.org_id, rows[0].position) if rows else None
        last_cursor = cursors.encode(actor.org_id, rows[-1].position) if rows else None
        return TimelineConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more if not req.backward else before is not None,
                               has_previous_page=more if req.backward else after is not None,
                               start_cursor=first_cursor, end_cursor=last_cursor),
            live_cursor=cursors.encode(actor.org_id, through))

    @strawberry.field(description="A record's comment thread, oldest first (replies carry parentId).")
    async def comments(self, info: strawberry.Info, record_id: strawberry.ID, first: int | None = None,
                       after: str | None = None, last: int | None = None,
                       before: str | None = None) -> CommentConnection:
        ctx = info.context
        actor = ctx.actor
        req = PageRequest(first=first, after=after, last=last, before=before)
        req.validate()
        type_name, pk = await visible_record(info, record_id)
        with_total = wants_total(info)
        page, position = await settled(info, lambda s: comments.comment_page(
            s, actor, type_name, pk, req, with_total=with_total))
        return CommentConnection(
            edges=[CommentEdge(cursor=c, node=Comment.from_model(m)) for m, c in zip(page.items, page.cursors,
                                                                                    strict=True)],
            page_info=PageInfo(has_next_page=page.has_next, has_previous_page=page.has_previous,
                               start_cursor=page.cursors[0] if page.cursors else None,
                               end_cursor=page.cursors[-1] if page.cursors else None),
            total_count=page.total, live_cursor=ctx.realtime.cursors.encode(actor.org_id, position))
