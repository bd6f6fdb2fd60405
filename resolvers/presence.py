"""Presence on a record: who else has it open. Anyone who may see the record may say they have it open
and watch who else does; nobody else learns anything (NOT_FOUND, as for the record itself)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import strawberry

from tandem.realtime.channels import presence_channel
from tandem.realtime.presence import Present
from tandem.schema.presence import LeavePresenceInput, PresentUser, RecordPresence, TouchPresenceInput

from .visibility import visible_record
from .writes import row_rule


def _presence(record_id: str, present: list[Present]) -> RecordPresence:
    return RecordPresence(record_id=strawberry.ID(record_id), present=[
        PresentUser(editing=p.editing, since=datetime.fromtimestamp(p.since, UTC),
                    expires_at=datetime.fromtimestamp(p.expires_at, UTC), _user_id=p.user_id) for p in present])


@strawberry.type
class PresenceMutation:
    @row_rule("anyone who may see the record")
    @strawberry.mutation(description="Say you have a record open (and whether you are editing it); repeat within "
                                     "the presence timeout while you do. Returns who has it open.")
    async def touch_presence(self, info: strawberry.Info, input: TouchPresenceInput) -> RecordPresence:
        ctx = info.context
        type_name, pk = await visible_record(info, input.record_id)
        present = await ctx.realtime.presence.touch(ctx.actor.org_id, type_name, pk, ctx.actor.user_id,
                                                    editing=input.editing)
        return _presence(input.record_id, present)

    @row_rule("anyone who may see the record")
    @strawberry.mutation(description="Say you closed a record (others see you leave at once, not at the timeout).")
    async def leave_presence(self, info: strawberry.Info, input: LeavePresenceInput) -> RecordPresence:
        ctx = info.context
        type_name, pk = await visible_record(info, input.record_id)
        present = await ctx.realtime.presence.leave(ctx.actor.org_id, type_name, pk, ctx.actor.user_id)
        return _presence(input.record_id, present)


@strawberry.type
class PresenceSubscription:
    @strawberry.subscription(description="Who has a record open: now, then again whenever someone opens it, "
                                         "starts or stops editing, closes it or times out.")
    async def record_presence(self, info: strawberry.Info,
                              record_id: strawberry.ID) -> AsyncGenerator[RecordPresence, None]:
        ctx = info.context
        type_name, pk = await visible_record(info, record_id)
        org_id = ctx.actor.org_id
        presence = ctx.realtime.presence
        channel = presence_channel(org_id, type_name, pk)
        async with ctx.realtime.hub.subscribe(channel, max_queue=ctx.settings.ws_max_queue) as doorbell:
            shown: list[tuple[int, bool]] | None = None
            while True:
                present = await presence.present(org_id, type_name, pk)
                now = [(p.user_id, p.editing) for p in present]
                if now != shown:
                    shown = now
                    yield _presence(record_id, present)
                # wake at the next announcement, or when the first of them times out
                timeout = max(0.05, min(p.expires_at for p in present) - time.time()) if present else None
                try:
                    await asyncio.wait_for(doorbell.get(), timeout)
                except TimeoutError:
                    pass
                doorbell.queue.clear()  # one read answers every announcement so far
