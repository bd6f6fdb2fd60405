"""Comments on any record."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.collaboration.comment import Comment as CommentModel
from tandem.domain.collaboration.comment import CommentEdit as CommentEditModel

from .errors import UserError
from .node import Node, to_global_id
from .user import User, load_user


@strawberry.type
class CommentEdit:
    previous_body: str
    edited_at: datetime
    _by: strawberry.Private[int]

    @strawberry.field
    async def edited_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._by)


@strawberry.type(description="A comment (markdown) on a record; `parentId` makes it a reply.")
class Comment(Node):
    record_id: strawberry.ID
    parent_id: strawberry.ID | None
    body: str | None = strawberry.field(description="Null once deleted.")
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    version: int
    _pk: strawberry.Private[int]
    _author_id: strawberry.Private[int]
    _mentions: strawberry.Private[list[int]]

    @classmethod
    def from_model(cls, m: CommentModel) -> Comment:
        return cls(id=to_global_id("Comment", m.id), record_id=to_global_id(m.record_type, m.record_id),
                   parent_id=to_global_id("Comment", m.parent_id) if m.parent_id else None,
                   body=None if m.deleted_at else m.body, created_at=m.created_at, edited_at=m.edited_at,
                   deleted_at=m.deleted_at, version=m.version, _pk=m.id, _author_id=m.author_id,
                   _mentions=list(m.mentions))

    @strawberry.field
    async def author(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._author_id)

    @strawberry.field
    async def mentions(self, info: strawberry.Info) -> list[User]:
        users = [await load_user(info, u) for u in self._mentions]
        return [u for u in users if u is not None]

    @strawberry.field(description="Earlier bodies, oldest first.")
    async def edits(self, info: strawberry.Info) -> list[CommentEdit]:
        rows: list[CommentEditModel] = await info.context.loaders.comment_edits.load(self._pk)
        return [CommentEdit(previous_body=r.previous_body, edited_at=r.edited_at, _by=r.edited_by_id) for r in rows]


@strawberry.input
class AddCommentInput:
    record_id: strawberry.ID
    body: str
    parent_id: strawberry.ID | None = None


@strawberry.input
class EditCommentInput:
    id: strawberry.ID
    version: int
    body: str


@strawberry.input
class DeleteCommentInput:
    id: strawberry.ID
    version: int


@strawberry.type
class CommentPayload:
    comment: Comment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
