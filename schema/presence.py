"""Who has a record open (``recordPresence``, ``touchPresence``): the basis of "someone else is editing"."""

from __future__ import annotations

from datetime import datetime

import strawberry

from .user import User, load_user


@strawberry.type(description="Someone who has the record open.")
class PresentUser:
    editing: bool = strawberry.field(description="They said they are editing (not only viewing).")
    since: datetime = strawberry.field(description="When they opened it.")
    expires_at: datetime = strawberry.field(description="When they count as gone unless their client touches "
                                                        "the record again.")
    _user_id: strawberry.Private[int]

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._user_id)


@strawberry.type(description="Everyone who has a record open, first come first.")
class RecordPresence:
    record_id: strawberry.ID
    present: list[PresentUser]


@strawberry.input(description="Say you have a record open (every ttl/2 seconds while you do; see "
                              "TANDEM_PRESENCE_TTL_SECONDS).")
class TouchPresenceInput:
    record_id: strawberry.ID
    editing: bool = False


@strawberry.input
class LeavePresenceInput:
    record_id: strawberry.ID
