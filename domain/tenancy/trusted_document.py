"""Trusted documents: the GraphQL documents an org's admin registered in advance. In trusted-documents mode
(``TANDEM_TRUSTED_DOCUMENTS``) a request of the org's users runs only when its document is one of these or
one of the deployment's manifest; a document is known by the SHA-256 of its exact text (as Apollo's
persisted queries, GraphQL Codegen's and Relay's persisted documents name it)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk, utcnow
from ..shared.errors import SharedErrorCode, Validator
from ..shared.pagination import Page, PageRequest, SortKey, paginate

MAX_DOCUMENT_CHARS = 100_000
"""The longest document an admin may register (a request body is at most ``TANDEM_MAX_BODY_BYTES``)."""

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def digest(document: str) -> str:
    """The document's SHA-256, lowercase hex, of its UTF-8 text exactly as sent (no normalisation)."""
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()


class TrustedDocument(Base):
    __tablename__ = "trusted_document"
    __table_args__ = (UniqueConstraint("org_id", "sha256"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    document: Mapped[str] = mapped_column(Text)
    registered_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


TRUSTED_DOCUMENT_SORT = SortKey("CREATED_AT", TrustedDocument.created_at, datetime)


async def register_trusted_document(session: AsyncSession, actor: Actor, document: str,
                                    name: str | None) -> TrustedDocument:
    """Trust a document for the actor's org (an admin's act; the caller has checked it is a valid GraphQL
    document). Registering the same text again returns the first registration unchanged."""
    v = Validator()
    if not document.strip():
        v.add("document", SharedErrorCode.REQUIRED, "document is required")
    elif len(document) > MAX_DOCUMENT_CHARS:
        v.add("document", SharedErrorCode.TOO_LONG, f"document is longer than {MAX_DOCUMENT_CHARS} characters")
    cleaned = v.text("name", name, max_len=200)
    v.raise_if_any()
    sha256 = digest(document)
    found = await session.scalar(select(TrustedDocument).where(TrustedDocument.org_id == actor.org_id,
                                                               TrustedDocument.sha256 == sha256))
    if found is not None:
        return found
    row = TrustedDocument(org_id=actor.org_id, sha256=sha256, name=cleaned or None, document=document,
                          registered_by=actor.user_id)
    try:  # the same text registered at the same moment by another admin: theirs is the registration
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        found = await session.scalar(select(TrustedDocument).where(TrustedDocument.org_id == actor.org_id,
                                                                   TrustedDocument.sha256 == sha256))
        if found is None:
            raise
        return found
    return row


async def trusted_document_text(session: AsyncSession, org_id: int, sha256: str) -> str | None:
    """The text of the org's trusted document with this SHA-256, or None."""
    return await session.scalar(select(TrustedDocument.document).where(TrustedDocument.org_id == org_id,
                                                                        TrustedDocument.sha256 == sha256))


async def list_trusted_documents(session: AsyncSession, org_id: int, req: PageRequest, *,
                                 with_total: bool = False) -> Page[TrustedDocument]:
    """The org's trusted documents, oldest first."""
    stmt = select(TrustedDocument).where(TrustedDocument.org_id == org_id)
    return await paginate(session, stmt, entity=TrustedDocument, sort=TRUSTED_DOCUMENT_SORT, req=req,
                          with_total=with_total)
