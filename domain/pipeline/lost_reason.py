"""The org's list of reasons deals are lost for (structured, so they can be counted), kept by the admin."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk, utcnow
from ..shared.errors import ValidationFailed, Validator
from ..shared.outbox import record_event
from .errors import PipelineErrorCode

KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


class LostReason(Base):
    __tablename__ = "lost_reason"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def lost_reason_payload(r: LostReason) -> dict:
    return {"id": r.id, "key": r.key, "label": r.label}


async def define_lost_reason(session: AsyncSession, actor: Actor, *, label: str, key: str | None) -> LostReason:
    """Add a lost reason, or relabel the one of ``key`` (deals lost for it keep referring to it)."""
    v = Validator()
    label = v.text("label", label, max_len=200, required=True) or ""
    key = (key or "").strip() or None
    if key is not None and not KEY.fullmatch(key):
        v.add("key", PipelineErrorCode.INVALID_CONFIG_KEY, "key is lower-case letters, digits and _ (at most 40)")
    v.raise_if_any()
    found = None
    if key is not None:
        found = await session.scalar(select(LostReason).where(LostReason.org_id == actor.org_id,
                                                              LostReason.key == key))
    else:
        count = await session.scalar(select(func.count()).select_from(LostReason)
                                     .where(LostReason.org_id == actor.org_id)) or 0
        key = f"reason_{count + 1}"
        while await session.scalar(select(LostReason.id).where(LostReason.org_id == actor.org_id,
                                                               LostReason.key == key)):
            count += 1
            key = f"reason_{count + 1}"
    same_label = await session.scalar(select(LostReason).where(LostReason.org_id == actor.org_id,
                                                               LostReason.label == label))
    if same_label is not None and same_label is not found:
        raise ValidationFailed.one("label", PipelineErrorCode.CONFIG_KEY_TAKEN,
                                   f"{label!r} is a lost reason already ({same_label.key})")
    reason = found or LostReason(org_id=actor.org_id, key=key, created_at=utcnow())
    reason.label = label
    session.add(reason)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="lost_reason.defined", record_type="LostReason",
                 record_id=reason.id, operation="update" if found else "create", payload=lost_reason_payload(reason))
    return reason


async def list_lost_reasons(session: AsyncSession, org_id: int) -> list[LostReason]:
    return list(await session.scalars(select(LostReason).where(LostReason.org_id == org_id)
                                      .order_by(LostReason.id)))


async def lost_reason_named(session: AsyncSession, actor: Actor, v: Validator, reason_id: int | None) -> Any:
    """The org's lost reason ``reason_id`` (None when not given; UNKNOWN_LOST_REASON when it is none of the org's)."""
    if reason_id is None:
        return None
    found = (await lost_reasons_by_ids(session, actor, [reason_id])).get(reason_id)
    if found is None:
        v.add("lostReasonId", PipelineErrorCode.UNKNOWN_LOST_REASON, "No such lost reason in your org")
    return found


async def lost_reasons_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, LostReason]:
    rows = await session.scalars(select(LostReason).where(LostReason.org_id == actor.org_id, LostReason.id.in_(ids)))
    return {r.id: r for r in rows}
