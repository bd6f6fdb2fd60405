"""`me`, `myOrg` and `node(id)`: any record type the registry declares, by its global id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from tandem.domain.collaboration.meeting import action_items_of_meetings
from tandem.domain.registry import RECORD_TYPES
from tandem.domain.shared.errors import NotFound
from tandem.schema.meeting import Meeting
from tandem.schema.node import Node, from_global_id
from tandem.schema.project import ChangeRequest
from tandem.schema.user import Org, User

from .visibility import visible_row


async def _change_request(info: strawberry.Info, row: Any) -> Node:
    project = await info.context.loaders.project.load(row.project_id)
    if project is None:
        raise NotFound("ChangeRequest", row.id)
    return ChangeRequest.from_model(row, project.currency)


async def _meeting(info: strawberry.Info, row: Any) -> Node:
    ctx = info.context
    async with ctx.read() as session:
        items = await action_items_of_meetings(session, ctx.actor, [row.id])
    return Meeting.from_model(row, items[row.id])


# Types whose schema object needs more than its row (every other one is ``Type.from_model(row)``).
BUILD: dict[str, Callable[[strawberry.Info, Any], Awaitable[Node]]] = {
    "ChangeRequest": _change_request, "Meeting": _meeting,
}


@strawberry.type
class NodeQuery:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: strawberry.Info) -> User:
        return User.from_model(await visible_row(info, "User", info.context.actor.user_id))

    @strawberry.field(description="The signed-in user's org.")
    async def my_org(self, info: strawberry.Info) -> Org:
        return Org.from_model(await visible_row(info, "Org", info.context.actor.org_id))

    @strawberry.field(description="Any object by its global id; NOT_FOUND if absent or out of reach.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        type_name, pk = from_global_id(id)
        record_type = RECORD_TYPES.get(type_name)
        if record_type is None or record_type.visible is None:
            raise NotFound("Node", id)
        if record_type.readable_with and not info.context.authz.can_read(*record_type.readable_with.split(".", 1)):
            raise NotFound(type_name, pk)  # a role that may not read the list may not read it piece by piece
        row = await visible_row(info, type_name, pk)
        build = BUILD.get(type_name)
        if build is not None:
            return await build(info, row)
        return info.schema.get_type_by_name(type_name).origin.from_model(row)
