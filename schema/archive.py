"""Archive and restore any core record by its global id."""

from __future__ import annotations

import strawberry

from .errors import UserError
from .node import Node

ARCHIVED_AT = ("When it was archived: out of lists and search until restored, still found by id. "
               "Null while it is active.")
ARCHIVED_FILTER = "False (the default): leave archived records out; true: only archived ones; null: both."


@strawberry.input
class ArchiveRecordInput:
    id: strawberry.ID = strawberry.field(description="A customer, contact, lead, opportunity, quote, contract, "
                                                     "project or product.")


@strawberry.input
class RestoreRecordInput:
    id: strawberry.ID


@strawberry.type
class ArchiveRecordPayload:
    record: Node | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RestoreRecordPayload:
    record: Node | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
