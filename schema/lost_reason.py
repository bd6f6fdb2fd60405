"""Structured reasons deals are lost for."""

from __future__ import annotations

import strawberry

from tandem.domain.pipeline.lost_reason import LostReason as LostReasonModel

from .errors import UserError
from .node import Node, to_global_id


@strawberry.type(description="One of the org's reasons deals are lost for (`lostReasons`, admin-kept).")
class LostReason(Node):
    key: str
    label: str

    @classmethod
    def from_model(cls, m: LostReasonModel) -> LostReason:
        return cls(id=to_global_id("LostReason", m.id), key=m.key, label=m.label)


@strawberry.input(description="Add a lost reason, or relabel the one of `key` (admin only).")
class DefineLostReasonInput:
    label: str
    key: str | None = strawberry.field(default=None, description="Lower-case letters, digits and _; generated if "
                                                                 "omitted.")


@strawberry.type
class LostReasonPayload:
    lost_reason: LostReason | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
