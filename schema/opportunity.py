"""Opportunities and their stage history."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from tandem.domain.pipeline.opportunity import Opportunity as OpportunityModel
from tandem.domain.pipeline.opportunity import OpportunityStageChange as StageChangeModel
from tandem.domain.shared.money import quantize
from tandem.domain.shared.pagination import PageRequest

from .archive import ARCHIVED_AT, ARCHIVED_FILTER
from .assignment_rule import Assignment, load_assignment
from .custom_field import readable_custom_fields
from .errors import UserError
from .node import Node, from_global_id, to_global_id
from .pagination import Connection, wants_total
from .scalars import JSON, Decimal
from .sla import SLA_STATUS, SlaStatus, load_sla_status
from .user import User, load_user

if TYPE_CHECKING:
    from .competitor import Competitor
    from .customer import Customer
    from .interaction import Interaction
    from .lost_reason import LostReason
    from .pipeline import Pipeline
    from .project import Project


@strawberry.type
class Milestone:
    name: str
    due_date: date | None
    done: bool


@strawberry.type(description="One stage move: from where to where, who, when.")
class StageChange:
    from_stage: str | None
    to_stage: str
    changed_at: datetime
    note: str | None
    _changed_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, m: StageChangeModel) -> StageChange:
        return cls(from_stage=m.from_stage, to_stage=m.to_stage, changed_at=m.changed_at, note=m.note,
                   _changed_by_id=m.changed_by_id)

    @strawberry.field
    async def changed_by(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._changed_by_id)


@strawberry.type(description="A deal in the pipeline.")
class Opportunity(Node):
    name: str | None
    stage: str | None = strawberry.field(description="Key of a stage of the org's pipeline, e.g. \"proposal\".")
    amount: Decimal | None
    currency: str | None
    expected_close_date: date | None
    probability: int | None
    milestones: list[Milestone] | None
    next_step: str | None
    next_step_at: datetime | None
    lost_reason: str | None
    _custom_fields: strawberry.Private[dict | None]

    @strawberry.field(description="Its custom fields (`customFieldDefinitions`), those you may read.")
    def custom_fields(self, info: strawberry.Info) -> JSON | None:
        return readable_custom_fields(info, "Opportunity", self._custom_fields)

    version: int
    created_at: datetime | None
    updated_at: datetime | None
    stage_changed_at: datetime | None
    closed_at: datetime | None
    _pk: strawberry.Private[int]
    _customer_id: strawberry.Private[int]
    _owner_id: strawberry.Private[int]
    _project_manager_id: strawberry.Private[int | None]
    _pipeline_id: strawberry.Private[int | None] = None
    _lost_reason_id: strawberry.Private[int | None] = None
    _competitor_ids: strawberry.Private[list[int]] = strawberry.field(default_factory=list)
    archived_at: datetime | None = strawberry.field(default=None, description=ARCHIVED_AT)

    @strawberry.field(description=SLA_STATUS)
    async def sla_status(self, info: strawberry.Info) -> SlaStatus | None:
        return await load_sla_status(info, self.id)

    @classmethod
    def from_model(cls, m: OpportunityModel) -> Opportunity:
        return cls(
            archived_at=m.archived_at,
            id=to_global_id("Opportunity", m.id), name=m.name, stage=m.stage_key, amount=quantize(m.amount, m.currency),
            currency=m.currency, expected_close_date=m.expected_close_date, probability=m.probability,
            milestones=[Milestone(name=x["name"], due_date=date.fromisoformat(x["dueDate"]) if x.get("dueDate")
                                  else None, done=bool(x.get("done"))) for x in m.milestones],
            next_step=m.next_step, next_step_at=m.next_step_at, lost_reason=m.lost_reason,
            _custom_fields=m.custom_fields, version=m.version,
            created_at=m.created_at, updated_at=m.updated_at, stage_changed_at=m.stage_changed_at,
            closed_at=m.closed_at, _pk=m.id, _customer_id=m.customer_id, _owner_id=m.owner_id,
            _project_manager_id=m.project_manager_id, _pipeline_id=m.pipeline_id,
            _lost_reason_id=m.lost_reason_id,
            _competitor_ids=list(m.competitor_ids or []),
        )

    @strawberry.field
    async def customer(
        self, info: strawberry.Info
    ) -> Annotated[Customer, strawberry.lazy(".customer")] | None:
        from .customer import Customer

        m = await info.context.loaders.customer.load(self._customer_id)
        return Customer.from_model(m) if m else None

    @strawberry.field(description="The pipeline it runs through (its `stage` is one of that pipeline's).")
    async def pipeline(self, info: strawberry.Info) -> Annotated[Pipeline, strawberry.lazy(".pipeline")] | None:
        from .pipeline import Pipeline

        m = await info.context.loaders.of("Pipeline").load(self._pipeline_id) if self._pipeline_id else None
        return Pipeline.from_model(m) if m else None

    @strawberry.field(description="Why it was lost, as one of `lostReasons` (`lostReason` keeps the text).")
    async def lost_reason_option(
        self, info: strawberry.Info
    ) -> Annotated[LostReason, strawberry.lazy(".lost_reason")] | None:
        from .lost_reason import LostReason

        m = await info.context.loaders.of("LostReason").load(self._lost_reason_id) if self._lost_reason_id else None
        return LostReason.from_model(m) if m else None

    @strawberry.field(description="The competitors met in this deal.")
    async def competitors(
        self, info: strawberry.Info
    ) -> list[Annotated[Competitor, strawberry.lazy(".competitor")]] | None:
        from .competitor import Competitor

        found = await info.context.loaders.of("Competitor").load_many(self._competitor_ids)
        return [Competitor.from_model(m) for m in found if m is not None]

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._owner_id)

    @strawberry.field(description="How the opportunity got its owner when it was created without one: the "
                                  "assignment rule, its method and why (null: never routed).")
    async def assignment(self, info: strawberry.Info) -> Assignment | None:
        return await load_assignment(info, "Opportunity", int(from_global_id(self.id)[1]))

    @strawberry.field(description="Who will run the delivery project once won (else the least-loaded PM).")
    async def project_manager(self, info: strawberry.Info) -> User | None:
        return await load_user(info, self._project_manager_id)

    @strawberry.field(description="The delivery project it became once won (if you may see it).")
    async def project(self, info: strawberry.Info) -> Annotated[Project, strawberry.lazy(".project")] | None:
        from .project import Project

        found = await info.context.loaders.project_of_opportunity.load(self._pk)
        return Project.from_model(found) if found else None

    @strawberry.field(description="Interactions logged on this opportunity, oldest first.")
    async def interactions(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[Annotated[Interaction, strawberry.lazy(".interaction")]] | None:
        from .interaction import Interaction

        req = PageRequest(first=first, after=after, last=last, before=before)
        page = await info.context.loaders.interactions_of_opportunity.load((self._pk, req, wants_total(info)))
        return Connection.from_page(page, Interaction.from_model)

    @strawberry.field(description="Every stage move, oldest first.")
    async def stage_history(self, info: strawberry.Info) -> list[StageChange] | None:
        rows = await info.context.loaders.stage_history.load(self._pk)
        return [StageChange.from_model(r) for r in rows]


@strawberry.input
class OpportunityFilter:
    stage: str | None = None
    owner_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    search: str | None = None
    archived: bool | None = strawberry.field(default=False, description=ARCHIVED_FILTER)


@strawberry.input
class MilestoneInput:
    name: str
    due_date: date | None = None
    done: bool = False


@strawberry.input
class CreateOpportunityInput:
    customer_id: strawberry.ID
    name: str
    amount: Decimal | None = None
    currency: str | None = strawberry.field(default=None, description="ISO 4217; the org's default if omitted.")
    stage: str | None = strawberry.field(default=None, description="Stage key; the pipeline's first if omitted.")
    lost_reason: str | None = None
    expected_close_date: date | None = None
    probability: int | None = None
    owner_id: strawberry.ID | None = None
    next_step: str | None = None
    next_step_at: datetime | None = None
    milestones: list[MilestoneInput] | None = None
    custom_fields: JSON | None = None
    project_manager_id: strawberry.ID | None = None
    pipeline_id: strawberry.ID | None = strawberry.field(default=None, description="The org's default if omitted.")
    lost_reason_id: strawberry.ID | None = strawberry.field(default=None, description="One of `lostReasons`.")
    competitor_ids: list[strawberry.ID] | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateOpportunityInput:
    id: strawberry.ID
    version: int
    name: str | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    expected_close_date: date | None = strawberry.UNSET
    probability: int | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    next_step_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="Schedules (or moves) the owner's follow-up; null cancels it.")
    milestones: list[MilestoneInput] | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET
    project_manager_id: strawberry.ID | None = strawberry.UNSET
    competitor_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="The competitors met in the deal (`competitors`), all of them.")


@strawberry.input
class MoveOpportunityStageInput:
    id: strawberry.ID
    stage: str
    version: int
    lost_reason: str | None = strawberry.field(
        default=strawberry.UNSET, description="Moving to lost needs this text or `lostReasonId`.")
    lost_reason_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One of `lostReasons` (its label is the text when none is given).")


@strawberry.type
class OpportunityPayload:
    opportunity: Opportunity | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
