"""Idempotency keys for create mutations: a retry returns the first result; a reused key with a
different input is refused; concurrent duplicates execute once (a unique index decides)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .actor import Actor
from .base import Base, IdType, pk
from .clock import clock
from .errors import IdempotencyKeyReused, SharedErrorCode, ValidationFailed

MAX_KEY = 200


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("org_id", "user_id", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY))
    operation: Mapped[str] = mapped_column(String(60))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


def fingerprint(operation: str, payload: Any) -> str:
    raw = json.dumps([operation, payload], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed.one("idempotencyKey", SharedErrorCode.INVALID,
                                   f"idempotencyKey must be 1 to {MAX_KEY} characters")


async def find(session: AsyncSession, actor: Actor, key: str, operation: str, request_hash: str) -> dict | None:
    """The stored result for ``key``, None if unused; refuses a key reused for another input."""
    row = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.org_id == actor.org_id,
            IdempotencyRecord.user_id == actor.user_id,
            IdempotencyRecord.key == key,
        )
    )
    if row is None:
        return None
    if row.operation != operation or row.request_hash != request_hash:
        raise IdempotencyKeyReused("This idempotencyKey was already used with a different input.")
    return row.result


def claim(session: AsyncSession, actor: Actor, key: str, operation: str, request_hash: str) -> IdempotencyRecord:
    """Add the key's row to the caller's transaction; a concurrent twin fails on the unique index."""
    row = IdempotencyRecord(org_id=actor.org_id, user_id=actor.user_id, key=key, operation=operation,
                            request_hash=request_hash, result={}, created_at=clock.now())
    session.add(row)
    return row
