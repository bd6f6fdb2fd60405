"""Roles, permissions, row scopes and sharing (the admin API), and what the viewer may do."""

from __future__ import annotations

from enum import Enum

import strawberry

from tandem.domain.shared.scope import Scope

from .errors import UserError
from .scalars import Decimal
from .user import ReassignedRecords, Team, User

RowScope = strawberry.enum(Scope, name="RowScope", description="Which rows of a type a role sees.")


@strawberry.enum
class PermissionEffect(Enum):
    ALLOW = "allow"
    DENY = "deny"
    INHERIT = "inherit"


@strawberry.input
class AssignRoleInput:
    user_id: strawberry.ID
    role: str


@strawberry.input
class SetManagerInput:
    user_id: strawberry.ID
    manager_id: strawberry.ID | None = None


@strawberry.input
class SetCostRateInput:
    user_id: strawberry.ID
    cost_rate: Decimal | None = strawberry.field(description="Per hour, in the org's currency; null clears it.")


@strawberry.input(description="Allow or deny an action: on a type (create, update, delete, share, read:own|team|org)"
                              " or on a field `Type.field` (read, write). INHERIT removes the explicit rule.")
class SetPermissionInput:
    role: str
    resource: str
    action: str
    effect: PermissionEffect


@strawberry.input
class SetRowScopeInput:
    role: str
    type: str
    scope: RowScope


@strawberry.input
class ShareRecordInput:
    record_id: strawberry.ID
    user_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None


@strawberry.type
class UserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeactivateUserPayload:
    user: User | None = None
    reassigned: list[ReassignedRecords] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PolicyPayload:
    policy_version: int | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SharePayload:
    record_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What the viewer may do with one record type, so a front end can hide the rest.")
class TypePermissions:
    type: str
    scope: RowScope
    actions: list[str]
    readable_fields: list[str]
    writable_fields: list[str]


@strawberry.type
class TeamPayload:
    team: Team | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
