"""archiveRecord / restoreRecord: any archivable record type of the registry, by its global id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.registry import RECORD_TYPES
from tandem.domain.registry import archive as service
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import NotFound
from tandem.schema.archive import ArchiveRecordInput, ArchiveRecordPayload, RestoreRecordInput, RestoreRecordPayload
from tandem.schema.node import Node, from_global_id

from .mutation import run
from .writes import row_rule

Move = Callable[[AsyncSession, Actor, str, int], Awaitable[Any]]
WHO = "whoever may update the record: its type's update action, a write on its archivedAt, its row in scope"


async def _move(info: strawberry.Info, gid: str, move: Move, payload: Callable[..., Any]) -> Any:
    ctx = info.context
    type_name, pk = from_global_id(gid)
    record_type = RECORD_TYPES.get(type_name)
    if record_type is None or record_type.visible is None:
        raise NotFound("Node", gid)
    if record_type.archivable:  # any other type: NOT_ARCHIVABLE from the domain
        ctx.authz.require(type_name, "update")
        ctx.authz.require_write(type_name, ["archivedAt"])
    actor = ctx.actor

    def node(row: Any = None, user_errors: list | None = None) -> Any:
        record: Node | None = info.schema.get_type_by_name(type_name).origin.from_model(row) if row else None
        return payload(record=record, user_errors=user_errors or [])

    return await run(info, lambda s: move(s, actor, type_name, pk), node)


@strawberry.type
class ArchiveMutation:
    @row_rule(WHO)
    @strawberry.mutation(description="Take a record out of lists and search; it keeps its history and is still "
                                     "found by id (archivedAt set). ALREADY_ARCHIVED if it is.")
    async def archive_record(self, info: strawberry.Info, input: ArchiveRecordInput) -> ArchiveRecordPayload:
        return await _move(info, input.id, service.archive_record, ArchiveRecordPayload)

    @row_rule(WHO)
    @strawberry.mutation(description="Bring an archived record back into lists and search. NOT_ARCHIVED if it is not.")
    async def restore_record(self, info: strawberry.Info, input: RestoreRecordInput) -> RestoreRecordPayload:
        return await _move(info, input.id, service.restore_record, RestoreRecordPayload)
