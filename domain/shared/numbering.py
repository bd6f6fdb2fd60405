"""Per-org document numbers (quotes, contracts, invoices, credit notes) without gaps.

The counter row is locked and advanced inside the caller's transaction: two concurrent issuers
queue on the row (PostgreSQL ``FOR UPDATE``; SQLite serializes writers), and a transaction that
rolls back gives its number back. So numbers are never duplicated and never skipped."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdType, pk
from .dialect import insert_if_absent, lock_for_update

PREFIXES = {"quote": "Q", "contract": "C", "invoice": "INV", "credit_note": "CN", "project": "P"}


class DocumentSequence(Base):
    __tablename__ = "document_sequence"
    __table_args__ = (UniqueConstraint("org_id", "kind"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    last_value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


async def _row(session: AsyncSession, org_id: int, kind: str) -> DocumentSequence:
    stmt = select(DocumentSequence).where(DocumentSequence.org_id == org_id, DocumentSequence.kind == kind)
    row = await session.scalar(lock_for_update(session, stmt).execution_options(populate_existing=True))
    if row is not None:
        return row
    # A concurrent first issuer may insert it too: theirs or ours wins, then both lock the one row.
    await insert_if_absent(session, DocumentSequence.__table__, {"org_id": org_id, "kind": kind, "last_value": 0})
    row = await session.scalar(lock_for_update(session, stmt).execution_options(populate_existing=True))
    assert row is not None
    return row


async def next_number(session: AsyncSession, org_id: int, kind: str) -> tuple[int, str]:
    """The next value of the org's ``kind`` sequence and its display form (``INV-000042``)."""
    row = await _row(session, org_id, kind)
    row.last_value += 1
    await session.flush()
    return row.last_value, f"{PREFIXES[kind]}-{row.last_value:06d}"
