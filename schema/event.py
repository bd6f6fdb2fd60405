"""Change events (for integrators) and timeline entries (for people), both with cursors."""

from __future__ import annotations

from datetime import datetime

import strawberry

from .scalars import JSON
from .user import User, load_user


@strawberry.type(description="One change, as the change feed carries it; fields you may not read are left out.")
class ChangeEvent:
    cursor: str
    event_id: strawberry.ID
    topic: str
    record_type: str
    record_id: strawberry.ID
    operation: str
    occurred_at: datetime
    payload: JSON
    _actor_id: strawberry.Private[int | None]

    @strawberry.field
    async def actor(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._actor_id)


@strawberry.type(description="An entry of a record's shared timeline.")
class TimelineEntry:
    cursor: str
    event_id: strawberry.ID
    kind: str
    summary: str
    record_type: str
    record_id: strawberry.ID
    occurred_at: datetime
    data: JSON
    _actor_id: strawberry.Private[int | None]

    @strawberry.field
    async def actor(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._actor_id)


@strawberry.type
class ChangeEventPage:
    events: list[ChangeEvent]
    end_cursor: str = strawberry.field(description="Pass as `after` next time; it moves past events you may not see.")
    has_more: bool
