"""A record's history as Relay connections, each with the cursor its live subscription goes on from."""

from __future__ import annotations

import strawberry

from .comment import Comment
from .event import TimelineEntry
from .pagination import PageInfo


@strawberry.type
class TimelineEdge:
    cursor: str = strawberry.field(description="The entry's cursor: also a subscription's `after`.")
    node: TimelineEntry


@strawberry.type(description="A page of a record's timeline, oldest first. Subscribe to `recordTimeline` with "
                             "`after: liveCursor` to receive every later entry exactly once.")
class TimelineConnection:
    edges: list[TimelineEdge]
    page_info: PageInfo
    live_cursor: str = strawberry.field(description="Where the record's live timeline goes on from this answer.")


@strawberry.type
class CommentEdge:
    cursor: str
    node: Comment


@strawberry.type(description="A page of a record's comment thread, oldest first (replies carry parentId). "
                             "Subscribe to `commentThread` with `after: liveCursor` for what comes next.")
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo
    total_count: int | None = strawberry.field(description="Comments on the record; computed only when asked for.")
    live_cursor: str = strawberry.field(description="Where the record's live comment thread goes on from this "
                                                    "answer.")
