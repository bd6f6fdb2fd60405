"""Each user's inbox (``notifications``, ``markNotificationsRead``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from .errors import UserError
from .pagination import PageInfo
from .scalars import JSON
from .user import User, load_user


@strawberry.type(description="Something addressed to you: an assignment, a mention, a reminder, an escalation, an "
                             "approval to give. What you may not read of it is left out.")
class Notification:
    id: strawberry.ID
    event_id: strawberry.ID = strawberry.field(description="The event it copies (as `myNotifications` carries it).")
    topic: str
    kind: str
    summary: str
    record_type: str
    record_id: strawberry.ID
    occurred_at: datetime
    data: JSON
    read: bool
    read_at: datetime | None
    _actor_id: strawberry.Private[int | None]

    @strawberry.field
    async def actor(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._actor_id)


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type(description="A page of your notifications, newest first. Subscribe to `myNotifications` with "
                             "`after: liveCursor` for what comes next.")
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    total_count: int | None = strawberry.field(description="Matching notifications; computed only when asked for.")
    unread_count: int
    live_cursor: str


@strawberry.input(description="Mark your notifications read: those of `ids`, and every one up to and including "
                              "`upTo` (the newest you have seen). Others' ids change nothing.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = None
    up_to: strawberry.ID | None = None


@strawberry.type
class MarkNotificationsReadPayload:
    marked: int = 0
    unread_count: int = 0
    user_errors: list[UserError] = strawberry.field(default_factory=list)
