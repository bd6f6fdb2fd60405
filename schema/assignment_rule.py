"""Assignment rules (lead and opportunity routing), the assignment a routed record shows, users' leave."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.automation.routing import Assignment as AssignmentModel
from tandem.domain.automation.routing import AssignmentMethod as _AssignmentMethod
from tandem.domain.automation.routing import AssignmentRule as AssignmentRuleModel
from tandem.domain.automation.routing import RoutedType as _RoutedType

from .errors import UserError
from .node import to_global_id
from .scalars import JSON
from .user import User, load_user

AssignmentObjectType = strawberry.enum(_RoutedType, name="AssignmentObjectType")
AssignmentMethod = strawberry.enum(_AssignmentMethod, name="AssignmentMethod", description=(
    "ROUND_ROBIN: the next member in turn; LOAD_BALANCED: the member with the fewest open records for their "
    "capacity; TERRITORY: a member whose territory names the record's region, industry or customer tier."))

CONDITIONS = ('A list of clauses that must all hold: {"field": "region", "eq": "华东"} or {"field": "industry", '
              '"in": ["制造", "能源"]}, compared as text without regard to case. Leads: region, industry, source, '
              'status, company, title; opportunities: region (the customer\'s custom field), industry, tier (the '
              "customer's), stage, currency. Empty: every record of the type.")


@strawberry.type(description="How a record got its owner.")
class Assignment:
    rule: str | None = strawberry.field(description="The rule's name when it routed (null: no rule matched).")
    method: AssignmentMethod | None = strawberry.field(
        description="The rule's method (null: nobody the rules name could take it; see code and reason).")
    reason: str = strawberry.field(
        description="Why this owner, in words (\"territory 华东 matches region 华东: 张伟\").")
    code: str | None = strawberry.field(description="NO_ELIGIBLE_ASSIGNEE when a fallback owner or the creator took "
                                                    "it because nobody the rules name could.")
    assigned_at: datetime
    _assignee_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: AssignmentModel) -> Assignment:
        return cls(rule=m.rule_name, method=_AssignmentMethod(m.method) if m.method else None, reason=m.reason,
                   code=m.code, assigned_at=m.assigned_at, _assignee_id=m.assignee_id)

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._assignee_id)


async def load_assignment(info: strawberry.Info, record_type: str, record_id: int) -> Assignment | None:
    m = await info.context.loaders.assignment(record_type).load(record_id)
    return Assignment.from_model(m) if m else None


@strawberry.type(description="A routing rule: records of its type matching its conditions go to one of its members. "
                             "An org's rules are tried in order; the first that matches decides.")
class AssignmentRule:
    id: strawberry.ID
    name: str
    object_type: AssignmentObjectType
    position: int
    conditions: JSON = strawberry.field(description=CONDITIONS)
    method: AssignmentMethod
    respect_capacity: bool
    skip_unavailable: bool
    response_hours: float | None = strawberry.field(
        description="A lead not touched (status, edit, owner's comment) this long after it is assigned goes to the "
                    "next eligible member, and the owner's manager is told.")
    version: int
    _member_ids: strawberry.Private[list[int]]
    _team_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: AssignmentRuleModel) -> AssignmentRule:
        return cls(id=to_global_id("AssignmentRule", m.id), name=m.name, object_type=_RoutedType(m.object_type),
                   position=m.position, conditions=m.conditions, method=_AssignmentMethod(m.method),
                   respect_capacity=m.respect_capacity, skip_unavailable=m.skip_unavailable,
                   response_hours=m.response_hours, version=m.version, _member_ids=list(m.member_ids),
                   _team_id=m.team_id)

    @strawberry.field(description="The members in turn order (empty: the team's, or for TERRITORY everyone with a "
                                  "territory).")
    async def members(self, info: strawberry.Info) -> list[User]:
        found = [await load_user(info, pk) for pk in self._member_ids]
        return [u for u in found if u is not None]

    @strawberry.field
    def team_id(self) -> strawberry.ID | None:
        return to_global_id("Team", self._team_id) if self._team_id is not None else None


@strawberry.input
class CreateAssignmentRuleInput:
    name: str
    object_type: AssignmentObjectType
    method: AssignmentMethod
    conditions: JSON | None = strawberry.field(default=None, description=CONDITIONS)
    member_ids: list[strawberry.ID] | None = None
    team_id: strawberry.ID | None = None
    respect_capacity: bool = True
    skip_unavailable: bool = True
    response_hours: float | None = None


@strawberry.input(description="Fields to change; a field left out stays as it is.")
class UpdateAssignmentRuleInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; CONFLICT if someone wrote since.")
    name: str | None = strawberry.UNSET
    object_type: AssignmentObjectType | None = strawberry.UNSET
    method: AssignmentMethod | None = strawberry.UNSET
    conditions: JSON | None = strawberry.UNSET
    member_ids: list[strawberry.ID] | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    respect_capacity: bool | None = strawberry.UNSET
    skip_unavailable: bool | None = strawberry.UNSET
    response_hours: float | None = strawberry.UNSET


@strawberry.input
class DeleteAssignmentRuleInput:
    id: strawberry.ID


@strawberry.input
class ReorderAssignmentRulesInput:
    ids: list[strawberry.ID] = strawberry.field(description="Every rule of the org, once, in the order to try them.")


@strawberry.input(description="A user's leave: from and until (both), or neither to clear it.")
class SetAvailabilityInput:
    user_id: strawberry.ID
    from_: datetime | None = strawberry.field(default=None, name="from")
    until: datetime | None = None


@strawberry.input(description="Who takes records no rule could route (null: their creators keep them).")
class SetAssignmentFallbackInput:
    owner_id: strawberry.ID | None = None


@strawberry.type
class AssignmentRulePayload:
    assignment_rule: AssignmentRule | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssignmentRulesPayload:
    assignment_rules: list[AssignmentRule] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class Availability:
    user: User
    away_from: datetime | None
    away_until: datetime | None


@strawberry.type
class AvailabilityPayload:
    availability: Availability | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssignmentFallbackPayload:
    fallback_owner: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
