"""Your inbox: notifications page by page with the unread count and the cursor `myNotifications` goes on
from; mark them read one by one or up to the newest seen. Only your own, cut to what you may read now."""

from __future__ import annotations

from typing import Any

import strawberry

from tandem.domain.shared import notification as inbox
from tandem.domain.shared.errors import SharedErrorCode, ValidationFailed
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.node import decode_id, to_global_id
from tandem.schema.notification import (
    MarkNotificationsReadInput,
    MarkNotificationsReadPayload,
    Notification,
    NotificationConnection,
    NotificationEdge,
)
from tandem.schema.pagination import PageInfo, wants_total

from .events import authorize, to_timeline_entry
from .history import settled
from .mutation import run
from .writes import row_rule


def _message(n: inbox.Notification) -> dict[str, Any]:
    """A notification as the event it copies, for the one check of what a reader may receive of an event."""
    return {"id": n.event_id, "position": None, "org": n.org_id, "topic": n.topic, "recordType": n.record_type,
            "recordId": n.record_id, "payload": n.payload, "actor": n.actor_id, "at": n.created_at.isoformat(),
            "timeline": [n.timeline_type, n.timeline_id], "audience": [n.user_id], "also": None, "_row": n}


def _notification(e: dict[str, Any]) -> Notification:
    row: inbox.Notification = e["_row"]
    entry = to_timeline_entry(e, "")
    return Notification(id=strawberry.ID(to_global_id("Notification", row.id)), event_id=entry.event_id,
                        topic=row.topic, kind=entry.kind, summary=entry.summary, record_type=entry.record_type,
                        record_id=entry.record_id, occurred_at=entry.occurred_at, data=entry.data,
                        read=row.read_at is not None, read_at=row.read_at, _actor_id=row.actor_id)


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="Your notifications, newest first (`first`/`after`), optionally unread only.")
    async def notifications(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                            last: int | None = None, before: str | None = None,
                            unread_only: bool = False) -> NotificationConnection:
        ctx = info.context
        actor = ctx.actor
        req = PageRequest(first=first, after=after, last=last, before=before)
        req.validate()
        with_total = wants_total(info)

        async def read(session: Any) -> tuple[Any, int]:
            page = await inbox.inbox(session, actor.org_id, actor.user_id, req, unread_only=unread_only,
                                     with_total=with_total)
            return page, await inbox.unread_count(session, actor.org_id, actor.user_id)

        (page, unread), position = await settled(info, read)
        cursor_of = dict(zip((n.id for n in page.items), page.cursors, strict=True))
        allowed = await authorize(ctx.db, actor, ctx.guard, [_message(n) for n in page.items])
        return NotificationConnection(
            edges=[NotificationEdge(cursor=cursor_of[e["_row"].id], node=_notification(e)) for e in allowed],
            page_info=PageInfo(has_next_page=page.has_next, has_previous_page=page.has_previous,
                               start_cursor=page.cursors[0] if page.cursors else None,
                               end_cursor=page.cursors[-1] if page.cursors else None),
            total_count=page.total, unread_count=unread,
            live_cursor=ctx.realtime.cursors.encode(actor.org_id, position))


@strawberry.type
class NotificationMutation:
    @row_rule("the recipient, of their own notifications")
    @strawberry.mutation(description="Mark your notifications read (`ids`, or everything up to `upTo`).")
    async def mark_notifications_read(self, info: strawberry.Info,
                                      input: MarkNotificationsReadInput) -> MarkNotificationsReadPayload:
        actor = info.context.actor
        ids = [decode_id("Notification", gid) for gid in input.ids or []]
        up_to = decode_id("Notification", input.up_to) if input.up_to is not None else None

        async def mark(session: Any) -> tuple[int, int]:
            if not ids and up_to is None:
                raise ValidationFailed.one("ids", SharedErrorCode.REQUIRED, "name the notifications (ids or upTo)")
            marked = await inbox.mark_read(session, actor.org_id, actor.user_id, ids=ids, up_to=up_to)
            return marked, await inbox.unread_count(session, actor.org_id, actor.user_id)

        def payload(result: tuple[int, int] | None = None, user_errors: Any = None) -> MarkNotificationsReadPayload:
            if result is None:
                return MarkNotificationsReadPayload(user_errors=user_errors or [])
            return MarkNotificationsReadPayload(marked=result[0], unread_count=result[1])

        return await run(info, mark, payload)
