"""Comment mutations and the thread query."""

from __future__ import annotations

import strawberry

from tandem.domain.collaboration import comment as service
from tandem.schema.comment import AddCommentInput, Comment, CommentPayload, DeleteCommentInput, EditCommentInput
from tandem.schema.node import decode_id, to_global_id

from .mutation import opt_id, run
from .visibility import visible_record
from .writes import row_rule


async def _reachable_comment(info: strawberry.Info, comment_id: int) -> None:
    """NOT_FOUND unless the comment's record is visible to the actor (no probing of hidden records)."""
    ctx = info.context
    async with ctx.read() as session:
        comment = await service.get_comment(session, ctx.actor, comment_id)
    await visible_record(info, to_global_id(comment.record_type, comment.record_id))


def _payload(m: service.Comment | None = None, user_errors: list | None = None) -> CommentPayload:
    return CommentPayload(comment=Comment.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class CommentMutation:
    @row_rule("any record the actor can see")
    @strawberry.mutation(description="Comment on any record you can see; @mentions notify the people named.")
    async def add_comment(self, info: strawberry.Info, input: AddCommentInput) -> CommentPayload:
        actor = info.context.actor
        type_name, pk = await visible_record(info, input.record_id)
        parent = opt_id("Comment", input.parent_id)
        if parent is not None:
            await _reachable_comment(info, parent)
        return await run(info, lambda s: service.add_comment(
            s, actor, record_type=type_name, record_id=pk, body=input.body, parent_id=parent), _payload)

    @row_rule("the comment's author, on a record they can see")
    @strawberry.mutation(description="Change your comment's body; the earlier body is kept in `edits`.")
    async def edit_comment(self, info: strawberry.Info, input: EditCommentInput) -> CommentPayload:
        actor = info.context.actor
        pk = decode_id("Comment", input.id)
        await _reachable_comment(info, pk)
        return await run(info, lambda s: service.edit_comment(s, actor, pk, input.version, input.body), _payload)

    @row_rule("the comment's author, on a record they can see")
    @strawberry.mutation(description="Delete your comment (its body is kept in the edit history).")
    async def delete_comment(self, info: strawberry.Info, input: DeleteCommentInput) -> CommentPayload:
        actor = info.context.actor
        pk = decode_id("Comment", input.id)
        await _reachable_comment(info, pk)
        return await run(info, lambda s: service.delete_comment(s, actor, pk, input.version), _payload)
