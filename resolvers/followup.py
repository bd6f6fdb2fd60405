"""Follow-up reminders: schedule one on a record you can see, for someone who can see it too; complete
or cancel it; page through your own, soonest due first, overdue ones marked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import strawberry

from tandem.authz.guard import Guard
from tandem.domain.automation import followup as service
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.followup import (
    CloseFollowUpInput,
    FollowUp,
    FollowUpConnection,
    FollowUpPayload,
    FollowUpStatus,
    ScheduleFollowUpInput,
)
from tandem.schema.node import decode_id, to_global_id
from tandem.schema.pagination import Edge, PageInfo, wants_total

from .mutation import opt_id, run
from .visibility import visible_ids, visible_record
from .writes import row_rule


def _payload(m: service.FollowUp | None = None, user_errors: Any = None) -> FollowUpPayload:
    return FollowUpPayload(follow_up=FollowUp.from_model(m, clock.now()) if m else None,
                           user_errors=user_errors or [])


def _sees(info: strawberry.Info, type_name: str, pk: int) -> service.AssigneeSees:
    """Whether a user may see the record, by their roles' row scopes in the org's policy (the registry's
    visibility of the type, as for the user themselves)."""
    ctx = info.context

    async def sees(session: Any, user: Any) -> bool:
        if ctx.policies is None:
            return True
        guard = Guard(await ctx.policies.for_org(user.org_id), frozenset(user.roles))
        them = Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email,
                     team_id=user.team_id)
        return pk in await visible_ids(session, replace(them, scopes=guard.scopes), type_name, [pk])

    return sees


@strawberry.type
class FollowUpQuery:
    @strawberry.field(description="Your follow-ups, soonest due first: open ones unless `status` says otherwise "
                                  "(null: all). Overdue ones say so (`overdue`).")
    async def my_follow_ups(self, info: strawberry.Info, status: FollowUpStatus | None = FollowUpStatus.OPEN,
                            first: int | None = None, after: str | None = None, last: int | None = None,
                            before: str | None = None) -> FollowUpConnection:
        ctx = info.context
        actor = ctx.actor
        req = PageRequest(first=first, after=after, last=last, before=before)
        async with ctx.read() as session:
            page = await service.follow_ups_of(session, actor, req, status=status, with_total=wants_total(info))
            # a record you may no longer see keeps its follow-ups out of your list
            seen = await visible_ids(session, actor, "FollowUp", [f.id for f in page.items])
        now = clock.now()
        edges = [Edge(cursor=c, node=FollowUp.from_model(f, now))
                 for f, c in zip(page.items, page.cursors, strict=True) if f.id in seen]
        return FollowUpConnection(
            edges=edges, total_count=page.total,
            page_info=PageInfo(has_next_page=page.has_next, has_previous_page=page.has_previous,
                               start_cursor=page.cursors[0] if page.cursors else None,
                               end_cursor=page.cursors[-1] if page.cursors else None))


@strawberry.type
class FollowUpMutation:
    @row_rule("any record the actor can see, for an assignee who can see it too")
    @strawberry.mutation(description="Schedule a follow-up on a record; its assignee is notified when it falls due.")
    async def schedule_follow_up(self, info: strawberry.Info, input: ScheduleFollowUpInput) -> FollowUpPayload:
        actor = info.context.actor
        type_name, pk = await visible_record(info, input.record_id)
        data = service.FollowUpInput(record_type=type_name, record_id=pk, due_at=input.due_at, note=input.note,
                                     assignee_id=opt_id("User", input.assignee_id))
        return await run(info, lambda s: service.schedule_follow_up(s, actor, data, _sees(info, type_name, pk)),
                         _payload)

    @row_rule("its assignee or whoever scheduled it, on a record they can see")
    @strawberry.mutation(description="Mark a follow-up done.")
    async def complete_follow_up(self, info: strawberry.Info, input: CloseFollowUpInput) -> FollowUpPayload:
        return await _close(info, input, service.FollowUpStatus.DONE)

    @row_rule("its assignee or whoever scheduled it, on a record they can see")
    @strawberry.mutation(description="Cancel a follow-up: nobody is reminded of it.")
    async def cancel_follow_up(self, info: strawberry.Info, input: CloseFollowUpInput) -> FollowUpPayload:
        return await _close(info, input, service.FollowUpStatus.CANCELLED)


async def _close(info: strawberry.Info, input: CloseFollowUpInput, status: service.FollowUpStatus) -> FollowUpPayload:
    ctx = info.context
    actor = ctx.actor
    pk = decode_id("FollowUp", input.id)
    async with ctx.read() as session:
        found = await service.get_follow_up(session, actor, pk)
    await visible_record(info, to_global_id(found.record_type, found.record_id))
    return await run(info, lambda s: service.close_follow_up(s, actor, pk, status, input.version), _payload)
