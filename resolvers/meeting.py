"""Meetings and action items; the personal streams (action items, notifications,
escalations)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from tandem.domain.collaboration import meeting as service
from tandem.domain.shared.errors import NotFound
from tandem.domain.shared.notification import NOTIFICATION_TOPICS
from tandem.realtime.channels import user_channel
from tandem.schema.event import TimelineEntry
from tandem.schema.meeting import (
    ActionItem,
    ActionItemPayload,
    Meeting,
    MeetingPayload,
    RecordMeetingInput,
    UpdateActionItemInput,
)
from tandem.schema.node import decode_id, to_global_id

from .feed import _delivered, _replayer, _subscription_start, _timeline_entry
from .mutation import named, opt_id, run, value
from .visibility import visible_record
from .writes import row_rule


def _meeting_payload(result=None, user_errors=None) -> MeetingPayload:
    if result is None:
        return MeetingPayload(user_errors=user_errors or [])
    return MeetingPayload(meeting=Meeting.from_model(result.meeting, result.action_items),
                          unparsed_lines=result.unparsed_lines)


def _item_payload(m=None, user_errors=None) -> ActionItemPayload:
    return ActionItemPayload(action_item=ActionItem.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class MeetingQuery:
    @strawberry.field(description="Meetings held on a record, newest first, with their action items.")
    async def meetings(self, info: strawberry.Info, record_id: strawberry.ID) -> list[Meeting]:
        ctx = info.context
        type_name, pk = await visible_record(info, record_id)
        async with ctx.read() as session:
            rows = await service.meetings_on(session, ctx.actor, type_name, pk)
            items = await service.action_items_of_meetings(session, ctx.actor, [m.id for m in rows])
        return [Meeting.from_model(m, items[m.id]) for m in rows]

    @strawberry.field(description="Your open action items, soonest due first.")
    async def my_open_action_items(self, info: strawberry.Info) -> list[ActionItem]:
        ctx = info.context
        async with ctx.read() as session:
            rows = await service.action_items_of(session, ctx.actor, ctx.actor.user_id)
        return [ActionItem.from_model(r) for r in rows]


@strawberry.type
class MeetingMutation:
    @row_rule("any record the actor can see")
    @strawberry.mutation(description="Record a meeting on a record; action items come from the list and the minutes.")
    async def record_meeting(self, info: strawberry.Info, input: RecordMeetingInput) -> MeetingPayload:
        actor = info.context.actor
        type_name, pk = await visible_record(info, input.record_id)
        attendees = [decode_id("User", a) for a in input.attendee_ids or []]
        items = [service.ActionItemInput(title=i.title, owner_id=opt_id("User", i.owner_id), due_at=i.due_at)
                 for i in input.action_items or []]
        return await run(info, lambda s: service.record_meeting(
            s, actor, record_type=type_name, record_id=pk, title=input.title, minutes=input.minutes,
            attendee_ids=attendees, action_items=items, held_at=input.held_at), _meeting_payload)

    @row_rule("an action item on a record the actor can see")
    @strawberry.mutation(description="Change an action item's status, due time or owner.")
    async def update_action_item(self, info: strawberry.Info, input: UpdateActionItemInput) -> ActionItemPayload:
        ctx = info.context
        actor = ctx.actor
        pk = decode_id("ActionItem", input.id)
        async with ctx.read() as session:
            item = await session.get(service.ActionItem, pk)
        if item is None or item.org_id != actor.org_id:
            raise NotFound("ActionItem", input.id)
        await visible_record(info, to_global_id(item.record_type, item.record_id))
        return await run(info, lambda s: service.update_action_item(
            s, actor, pk, version=input.version, status=value(input, "status"), due_at=value(input, "due_at"),
            owner_id=opt_id("User", value(input, "owner_id")), set_fields=named(input)), _item_payload)


async def _personal(info: strawberry.Info, after: str | None, topics: list[str]):
    ctx = info.context
    position = await _subscription_start(info, after)
    replay = _replayer(info, user_id=ctx.actor.user_id, topics=topics)
    channel = user_channel(ctx.actor.org_id, ctx.actor.user_id)
    prefixes = tuple(topics)

    def keep(event: dict[str, Any]) -> bool:
        return event["topic"].startswith(prefixes)

    async for entry in _delivered(info, channel, replay, position, keep, _timeline_entry(ctx)):
        yield entry




@strawberry.type
class MeetingSubscription:
    @strawberry.subscription(description="Action items assigned to you, their changes and reminders.")
    async def my_action_items(self, info: strawberry.Info,
                              after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        async for entry in _personal(info, after, ["action_item."]):
            yield entry

    @strawberry.subscription(description="What concerns you: assignments, @mentions, reminders, escalations.")
    async def my_notifications(self, info: strawberry.Info,
                               after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        async for entry in _personal(info, after, list(NOTIFICATION_TOPICS)):
            yield entry

    @strawberry.subscription(description="Escalations you must act on.")
    async def sla_escalations(self, info: strawberry.Info,
                              after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        async for entry in _personal(info, after, ["sla.escalated"]):
            yield entry
