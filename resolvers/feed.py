"""Subscriptions (record timelines, comment threads, the change feed) and pull-based `changeEvents`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from domain.shared import outbox
from domain.shared.errors import DomainError, NotFound
from domain.shared.pagination import InvalidPageRequest
from realtime.channels import feed_channel, record_channel
from realtime.cursor import check_not_expired
from realtime.relay import event_message
from realtime.stream import Gap, replay_then_live
from schema.event import ChangeEvent, ChangeEventPage, TimelineEntry
from schema.node import from_global_id

from .events import VISIBLE, authorize, to_change_event, to_timeline_entry

REPLAY_BATCH = 500


class SubscriptionGap(DomainError):
    code = "SUBSCRIPTION_GAP"


async def _visible_record(info: strawberry.Info, record_id: str) -> tuple[str, int]:
    ctx = info.context
    type_name, pk = from_global_id(record_id)
    if type_name not in VISIBLE:
        raise NotFound(type_name, record_id)
    async with ctx.db.read(ctx.actor.org_id) as session:
        if not await VISIBLE[type_name](session, ctx.actor, [pk]):
            raise NotFound(type_name, record_id)
    return type_name, pk


async def _start(info: strawberry.Info, after: str | None) -> int:
    ctx = info.context
    position = ctx.realtime.cursors.decode(ctx.actor.org_id, after)
    async with ctx.db.read(ctx.actor.org_id) as session:
        check_not_expired(position, await outbox.pruned_through(session))
    return position


def _replayer(info: strawberry.Info, **filters: Any):
    ctx = info.context

    async def replay(last: int) -> list[dict[str, Any]]:
        async with ctx.db.read(ctx.actor.org_id) as session:
            rows = await outbox.events_after(session, ctx.actor.org_id, last, limit=REPLAY_BATCH, **filters)
        return [event_message(r) for r in rows]

    return replay


async def _authorized(info: strawberry.Info, channel: str, replay: Any, position: int):
    ctx = info.context
    try:
        async for event in replay_then_live(ctx.realtime.hub, channel, replay, position,
                                            max_queue=ctx.settings.ws_max_queue):
            for allowed in await authorize(ctx.db, ctx.actor, ctx.guard, [event]):
                yield allowed
    except Gap as exc:
        raise SubscriptionGap(f"Fell behind ({exc}); resubscribe with your last cursor.") from exc


@strawberry.type
class FeedQuery:
    @strawberry.field(description="Pull-based sync: changes you may read after `after`, oldest first.")
    async def change_events(self, info: strawberry.Info, after: str | None = None, first: int = 100,
                            types: list[str] | None = None) -> ChangeEventPage:
        ctx = info.context
        actor = ctx.actor
        if not 1 <= first <= 500:
            raise InvalidPageRequest("`first` must be between 1 and 500.")
        position = await _start(info, after)
        async with ctx.db.read(actor.org_id) as session:
            rows = await outbox.events_after(session, actor.org_id, position, limit=first + 1,
                                             record_types=types or None)
        has_more = len(rows) > first
        rows = rows[:first]
        end = rows[-1].position if rows else position
        events = await authorize(ctx.db, actor, ctx.guard, [event_message(r) for r in rows])
        cursors = ctx.realtime.cursors
        return ChangeEventPage(
            events=[to_change_event(e, cursors.encode(actor.org_id, e["position"])) for e in events],
            end_cursor=cursors.encode(actor.org_id, end), has_more=has_more,
        )


@strawberry.type
class FeedSubscription:
    @strawberry.subscription(description="A record's shared timeline: replays after `after`, then live.")
    async def record_timeline(self, info: strawberry.Info, record_id: strawberry.ID,
                              after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        ctx = info.context
        type_name, pk = await _visible_record(info, record_id)
        position = await _start(info, after)
        replay = _replayer(info, timeline=(type_name, pk))
        channel = record_channel(ctx.actor.org_id, type_name, pk)
        async for event in _authorized(info, channel, replay, position):
            yield to_timeline_entry(event, ctx.realtime.cursors.encode(ctx.actor.org_id, event["position"]))

    @strawberry.subscription(description="Comments and replies on a record: replays after `after`, then live.")
    async def comment_thread(self, info: strawberry.Info, record_id: strawberry.ID,
                             after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        ctx = info.context
        type_name, pk = await _visible_record(info, record_id)
        position = await _start(info, after)
        replay = _replayer(info, timeline=(type_name, pk), topics=["comment."])
        channel = record_channel(ctx.actor.org_id, type_name, pk)
        async for event in _authorized(info, channel, replay, position):
            if event["topic"].startswith("comment."):
                yield to_timeline_entry(event, ctx.realtime.cursors.encode(ctx.actor.org_id, event["position"]))

    @strawberry.subscription(description="Every change you may read (optionally of some record types).")
    async def change_feed(self, info: strawberry.Info, types: list[str] | None = None,
                          after: str | None = None) -> AsyncGenerator[ChangeEvent, None]:
        ctx = info.context
        position = await _start(info, after)
        replay = _replayer(info, record_types=types or None)
        async for event in _authorized(info, feed_channel(ctx.actor.org_id), replay, position):
            if types and event["recordType"] not in types:
                continue
            yield to_change_event(event, ctx.realtime.cursors.encode(ctx.actor.org_id, event["position"]))
