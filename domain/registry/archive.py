"""Archive and restore any archivable record type the registry declares, by type name and id.

Who may is decided outside (the type's ``update`` action and a write on its ``archivedAt``); here: the
row must be one the actor may see (else NOT_FOUND, another org's too), archived or not as the move needs
(``ALREADY_ARCHIVED`` / ``NOT_ARCHIVED``), and the change is an event on the record's timeline.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed
from ..shared.outbox import record_event
from .payloads import record_topic
from .records import RECORD_TYPES, RecordType


def archivable(type_name: str) -> RecordType:
    """The registry's entry of an archivable type; NOT_ARCHIVABLE for any other."""
    record_type = RECORD_TYPES.get(type_name)
    if record_type is None or not record_type.archivable:
        raise ValidationFailed.one("id", SharedErrorCode.NOT_ARCHIVABLE, f"A {type_name} cannot be archived.")
    return record_type


async def _lock(session: AsyncSession, actor: Actor, record_type: RecordType, record_id: int) -> Any:
    assert record_type.visible is not None and record_type.model is not None
    if record_id not in await record_type.visible(session, actor, [record_id]):
        raise NotFound(record_type.name, record_id)
    model: Any = record_type.model
    stmt = select(model).where(model.org_id == actor.org_id, model.id == record_id)
    return await session.scalar(lock_for_update(session, stmt).execution_options(populate_existing=True))


def _event(session: AsyncSession, actor: Actor, type_name: str, row: Any, what: str) -> None:
    at = row.archived_at
    record_event(session, actor, org_id=actor.org_id, topic=record_topic(type_name, what), record_type=type_name,
                 record_id=row.id, operation="update",
                 payload={"id": row.id, "archivedAt": at.isoformat() if at else None,
                          "version": getattr(row, "version", None)})


async def archive_record(session: AsyncSession, actor: Actor, type_name: str, record_id: int) -> Any:
    """Out of lists and search; ``node(id)``, its own query and its timeline still find it."""
    record_type = archivable(type_name)
    row = await _lock(session, actor, record_type, record_id)
    row.archive(clock.now())
    await flush_or_conflict(session, type_name)
    _event(session, actor, type_name, row, "archived")
    return row


async def restore_record(session: AsyncSession, actor: Actor, type_name: str, record_id: int) -> Any:
    """Back into lists and search, as it was."""
    record_type = archivable(type_name)
    row = await _lock(session, actor, record_type, record_id)
    row.restore()
    await flush_or_conflict(session, type_name)
    _event(session, actor, type_name, row, "restored")
    return row
