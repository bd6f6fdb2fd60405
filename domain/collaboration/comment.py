"""Comments on any record: threads (replies), @mentions that notify, edits with history, soft delete."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.concurrency import check_version, flush_or_conflict, load_for_write
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.rows import group_by
from ..shared.text import find_mentions, handle_key, handle_keys
from ..tenancy.user import User
from .errors import CollaborationErrorCode

MAX_BODY = 10_000


class Comment(Base):
    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_record", "org_id", "record_type", "record_id", "created_at"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    parent_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("comment.id", ondelete="CASCADE"),
                                                  nullable=True)
    author_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[int]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class CommentEdit(Base):
    """The body a comment had before an edit (or a delete), who changed it and when."""

    __tablename__ = "comment_edit"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    comment_id: Mapped[int] = mapped_column(IdType, ForeignKey("comment.id", ondelete="CASCADE"), index=True)
    previous_body: Mapped[str] = mapped_column(Text)
    edited_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    edited_at: Mapped[datetime]


async def handle_directory(session: AsyncSession, org_id: int) -> dict[str, int]:
    """Every handle the org's active users answer to (``handle_keys``) → the user's id; where two users
    answer to one handle, the older user has it."""
    rows = await session.execute(select(User.id, User.email, User.name).where(
        User.org_id == org_id, User.active.is_(True)).order_by(User.id))
    directory: dict[str, int] = {}
    for user_id, email, name in rows:
        for key in handle_keys(email, name):
            directory.setdefault(key, user_id)
    return directory


async def mentioned_users(session: AsyncSession, actor: Actor, body: str) -> list[int]:
    """Ids of the org's users @mentioned in ``body`` ("@rep2", "@rep2@demo.test", "@manager请审批", "@张伟请看"),
    the author aside."""
    directory = await handle_directory(session, actor.org_id)
    found = {directory.get(handle_key(m.handle)) for m in find_mentions(body, directory)}
    return sorted(u for u in found if u is not None and u != actor.user_id)


def _body(v: Validator, body: str | None) -> str:
    text = v.text("body", body, max_len=MAX_BODY, required=True)
    return text or ""


async def add_comment(session: AsyncSession, actor: Actor, *, record_type: str, record_id: int, body: str | None,
                      parent_id: int | None = None) -> Comment:
    """A comment on a record the caller has already checked the actor may see."""
    v = Validator()
    text = _body(v, body)
    if parent_id is not None:
        parent = await get_comment(session, actor, parent_id)
        if (parent.record_type, parent.record_id) != (record_type, record_id):
            v.add("parentId", SharedErrorCode.MISMATCHED_RECORD, "the parent comment is on another record")
    v.raise_if_any()
    mentions = await mentioned_users(session, actor, text)
    comment = Comment(org_id=actor.org_id, record_type=record_type, record_id=record_id, parent_id=parent_id,
                      author_id=actor.user_id, body=text, mentions=mentions, created_at=clock.now())
    session.add(comment)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="comment.added", record_type="Comment",
                 record_id=comment.id, operation="create", payload=comment_payload(comment),
                 timeline=(record_type, record_id), audience=mentions)
    return comment


def comment_payload(c: Comment) -> dict:
    return {"id": c.id, "recordType": c.record_type, "recordId": c.record_id, "parentId": c.parent_id,
            "authorId": c.author_id, "body": None if c.deleted_at else c.body, "mentions": c.mentions,
            "edited": c.edited_at is not None, "deleted": c.deleted_at is not None, "version": c.version}


async def _for_change(session: AsyncSession, actor: Actor, comment_id: int, version: int) -> Comment:
    comment = await load_for_write(session, select(Comment).where(Comment.id == comment_id,
                                                                  Comment.org_id == actor.org_id),
                                   type_name="Comment", record_id=comment_id)
    if comment.author_id != actor.user_id and not actor.has_role("admin"):
        raise ValidationFailed.one("id", CollaborationErrorCode.NOT_ALLOWED,
                                   "only the author (or an admin) may change it")
    if comment.deleted_at is not None:
        raise ValidationFailed.one("id", CollaborationErrorCode.NOT_ALLOWED, "the comment was deleted")
    check_version(comment, version, "Comment")
    return comment


async def edit_comment(session: AsyncSession, actor: Actor, comment_id: int, version: int,
                       body: str | None) -> Comment:
    comment = await _for_change(session, actor, comment_id, version)
    v = Validator()
    text = _body(v, body)
    v.raise_if_any()
    if text == comment.body:
        return comment
    now = clock.now()
    session.add(CommentEdit(org_id=actor.org_id, comment_id=comment.id, previous_body=comment.body,
                            edited_by_id=actor.user_id, edited_at=now))
    new_mentions = [u for u in await mentioned_users(session, actor, text) if u not in comment.mentions]
    comment.body = text
    comment.mentions = sorted({*comment.mentions, *new_mentions})
    comment.edited_at = now
    await flush_or_conflict(session, "Comment")
    record_event(session, actor, org_id=actor.org_id, topic="comment.edited", record_type="Comment",
                 record_id=comment.id, operation="update", payload=comment_payload(comment),
                 timeline=(comment.record_type, comment.record_id), audience=new_mentions)
    return comment


async def delete_comment(session: AsyncSession, actor: Actor, comment_id: int, version: int) -> Comment:
    comment = await _for_change(session, actor, comment_id, version)
    now = clock.now()
    session.add(CommentEdit(org_id=actor.org_id, comment_id=comment.id, previous_body=comment.body,
                            edited_by_id=actor.user_id, edited_at=now))
    comment.deleted_at = now
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="comment.deleted", record_type="Comment",
                 record_id=comment.id, operation="delete", payload=comment_payload(comment),
                 timeline=(comment.record_type, comment.record_id))
    return comment


async def get_comment(session: AsyncSession, actor: Actor, comment_id: int) -> Comment:
    comment = await session.scalar(select(Comment).where(Comment.id == comment_id, Comment.org_id == actor.org_id))
    if comment is None:
        raise NotFound("Comment", comment_id)
    return comment


COMMENT_ORDER = SortKey("created", Comment.created_at, datetime)


async def comment_page(session: AsyncSession, actor: Actor, record_type: str, record_id: int, req: PageRequest, *,
                       with_total: bool = False) -> Page[Comment]:
    """A page of a record's thread, oldest first (replies carry parent_id)."""
    return await paginate(session, select(Comment).where(
        Comment.org_id == actor.org_id, Comment.record_type == record_type, Comment.record_id == record_id),
        entity=Comment, sort=COMMENT_ORDER, req=req, with_total=with_total)


async def edits_of(session: AsyncSession, actor: Actor, comment_ids: list[int]) -> dict[int, list[CommentEdit]]:
    rows = await session.scalars(select(CommentEdit).where(
        CommentEdit.org_id == actor.org_id, CommentEdit.comment_id.in_(comment_ids)
    ).order_by(CommentEdit.edited_at, CommentEdit.id))
    return group_by(comment_ids, rows, lambda r: r.comment_id)
