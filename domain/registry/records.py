"""Every record type the API exposes, declared once: its model, GraphQL type (whose name is also its
global-id prefix), row scope, owner, who may see which rows, the timeline it belongs to, which
fields the org's policy governs and which copy or derive from another.

``node(id)``, the field guard, the event filter, the policy admin API, the visibility module and the
tenancy tests all read ``RECORD_TYPES``; nothing else lists record types. A new type is one entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..automation.followup import FollowUp
from ..automation.rule import WorkflowRule, WorkflowRun
from ..billing.invoice import Invoice, invoices_by_ids
from ..billing.payment import Payment, PaymentAllocation, payments_by_ids
from ..billing.payment_plan import Installment
from ..collaboration.comment import Comment
from ..collaboration.meeting import ActionItem, Meeting
from ..contracts.approval import ContractApprovalStep
from ..contracts.contract import Contract, contracts_by_ids
from ..contracts.signature import SignatureRequest
from ..crm.contact import Contact, contacts_by_ids
from ..crm.customer import Customer, customers_by_ids
from ..crm.interaction import Interaction, visible_interactions
from ..crm.lead import Lead, leads_by_ids
from ..delivery.budget import Expense
from ..delivery.change_request import ChangeRequest
from ..delivery.progress import ProgressReport
from ..delivery.project import Project, ProjectTemplate, projects_by_ids
from ..delivery.task import Task, get_task
from ..delivery.timesheet import TimeEntry, Timesheet, visible_entries, visible_timesheets
from ..knowledge.article import KnowledgeArticle, articles_by_ids
from ..pipeline.competitor import Competitor
from ..pipeline.lost_reason import LostReason
from ..pipeline.opportunity import Opportunity, OpportunityStageChange, opportunities_by_ids
from ..pipeline.stage import PipelineStage, SalesPipeline
from ..sales.product import PriceBook, Product, price_books_by_ids, products_by_ids
from ..sales.quote import Quote, quotes_by_ids
from ..service.queue import TicketQueue, queues_by_ids
from ..service.ticket import Ticket, TicketMessage, tickets_by_ids
from ..shared.actor import Actor
from ..shared.errors import NotFound
from ..tenancy.org import Org, Team, teams_by_ids
from ..tenancy.user import User, users_by_ids

Visible = Callable[[Any, Actor, list[int]], Awaitable[dict[int, Any]]]
"""``(session, actor, ids) -> {id: row}``: the rows of these ids the actor may see (in key order of
its own; the ids it may not see, or of another org, are absent)."""


@dataclass(frozen=True)
class RecordType:
    name: str
    """The GraphQL type, and the prefix of its global ids (``Customer:42``, schema/node.py)."""
    model: type | None = None
    """The SQLAlchemy model of its rows (None: a view computed from other records)."""
    visible: Visible | None = None
    """Which of some ids the actor may see; defaults to the rows of the actor's org. ``node(id)`` resolves
    every type that has one."""
    guarded: bool = True
    """Its fields are read and written under the org policy's ``Type.field`` rules."""
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Field → the ``Type.field`` values it copies or is computed from."""
    owned: bool = False
    """It has an owner: the own/team/org row scopes apply to it and it can be shared."""
    scope: str | None = None
    """The type whose row scope decides its rows, when not its own (a contact's is its customer's)."""
    org_wide: bool = False
    """Everyone in the org sees every row: its row scope is ORG whatever the policy says."""
    timeline: bool = False
    """A record with a timeline of its own (comments, meetings, ``recordTimeline``): events about it, and
    on its timeline, reach whoever may see it."""
    follows_timeline: bool = False
    """Events about it are visible when the record whose timeline shows them is."""
    readable_with: str | None = None
    """A ``Type.field`` whose read permission ``node(id)`` needs too (the list it is a piece of)."""
    node: bool = True
    """``node(id)`` resolves its global ids (by ``visible``, which defaults to the rows of the actor's org)."""
    archivable: bool = False
    """Its rows can be archived and restored (``archiveRecord``): its model mixes in ``shared.archive.Archivable``,
    its lists leave archived rows out, and ``<type>.archived`` / ``<type>.restored`` events are declared."""

    def __post_init__(self) -> None:
        if self.visible is None and self.model is not None and self.node:
            object.__setattr__(self, "visible", in_org(self.model))

    @property
    def id_prefix(self) -> str:
        return self.name

    @property
    def scope_type(self) -> str:
        """The record type whose row scope an actor has over these rows."""
        return self.scope or self.name


# --- visibility rules shared by several types ----------------------------------------------------


def in_org(model: Any) -> Visible:
    """Every row of the actor's org."""

    async def visible(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
        rows = await session.scalars(select(model).where(model.org_id == actor.org_id, model.id.in_(ids)))
        return {r.id: r for r in rows}

    return visible


def selected(model: Any, statement: Callable[[Actor], Any]) -> Visible:
    """The rows of ``statement(actor)`` (a select of the rows the actor sees)."""

    async def visible(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
        rows = await session.scalars(statement(actor).where(model.id.in_(ids)))
        return {r.id: r for r in rows}

    return visible


def each(get: Callable[[Any, Actor, int], Awaitable[Any]]) -> Visible:
    """The rows ``get`` finds one by one (NotFound: not visible)."""

    async def visible(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
        out = {}
        for pk in ids:
            try:
                out[pk] = await get(session, actor, pk)
            except NotFound:
                continue
        return out

    return visible


def under(model: Any, parent: str, column: str) -> Visible:
    """Rows of the actor's org whose ``parent`` record (named by ``column``) the actor may see."""
    own = in_org(model)

    async def visible(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
        rows = await own(session, actor, ids)
        wanted = sorted({getattr(r, column) for r in rows.values()})
        parents = await RECORD_TYPES[parent].visible(session, actor, wanted)
        return {pk: r for pk, r in rows.items() if getattr(r, column) in parents}

    return visible


def on_record(model: Any) -> Visible:
    """Rows of the actor's org on a record (``record_type``, ``record_id``) with a timeline the actor may see."""
    own = in_org(model)

    async def visible(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
        rows = await own(session, actor, ids)
        wanted: dict[str, set[int]] = defaultdict(set)
        for r in rows.values():
            wanted[r.record_type].add(r.record_id)
        seen: set[tuple[str, int]] = set()
        for type_name, record_ids in wanted.items():
            record_type = RECORD_TYPES.get(type_name)
            if record_type is not None and record_type.timeline:
                seen |= {(type_name, pk) for pk in await record_type.visible(session, actor, sorted(record_ids))}
        return {pk: r for pk, r in rows.items() if (r.record_type, r.record_id) in seen}

    return visible


async def _users(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
    return await users_by_ids(session, actor.org_id, ids)


async def _teams(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
    return await teams_by_ids(session, actor.org_id, ids)


async def _orgs(session: Any, actor: Actor, ids: list[int]) -> dict[int, Any]:
    org = await session.get(Org, actor.org_id) if actor.org_id in ids else None
    return {org.id: org} if org is not None else {}


# --- the record types --------------------------------------------------------------------------

RECORD_TYPES: dict[str, RecordType] = {t.name: t for t in (
    # crm
    RecordType("Customer", Customer, customers_by_ids, owned=True, timeline=True, archivable=True, derived={
        # Its intent is scored from its interactions: whoever may not read them may not read it either.
        "intent": ("Interaction.kind", "Interaction.occurredAt"),
    }),
    RecordType("Contact", Contact, contacts_by_ids, scope="Customer", timeline=True, follows_timeline=True,
               archivable=True),
    RecordType("Interaction", Interaction, selected(Interaction, visible_interactions), scope="Customer",
               follows_timeline=True),
    RecordType("Lead", Lead, leads_by_ids, owned=True, timeline=True, archivable=True, derived={
        # How it got its owner names the owner (and the one before): whoever may not read the owner may not read it.
        "assignment": ("Lead.owner",),
    }),
    # pipeline
    RecordType("Opportunity", Opportunity, opportunities_by_ids, owned=True, timeline=True, archivable=True, derived={
        "assignment": ("Opportunity.owner",),
        # When the next step is due is part of the next step: hidden from whoever may not read the step.
        "nextStepAt": ("Opportunity.nextStep",),
    }),
    RecordType("StageChange", OpportunityStageChange, guarded=False, scope="Opportunity", node=False),
    RecordType("PipelineStage", PipelineStage, guarded=False, org_wide=True, node=False),
    RecordType("Pipeline", SalesPipeline, guarded=False, org_wide=True),
    RecordType("LostReason", LostReason, guarded=False, org_wide=True),
    RecordType("Competitor", Competitor, guarded=False, org_wide=True),
    # tenancy
    RecordType("User", User, _users, org_wide=True),
    RecordType("Team", Team, _teams, guarded=False, org_wide=True),
    RecordType("Org", Org, _orgs, guarded=False, org_wide=True),
    # sales
    RecordType("Product", Product, products_by_ids, timeline=True, archivable=True),
    RecordType("PriceBook", PriceBook, price_books_by_ids, timeline=True),
    RecordType("Quote", Quote, quotes_by_ids, owned=True, timeline=True, archivable=True),
    # contracts
    RecordType("Contract", Contract, contracts_by_ids, owned=True, timeline=True, archivable=True),
    RecordType("ApprovalStep", ContractApprovalStep, under(ContractApprovalStep, "Contract", "contract_id"),
               guarded=False),
    RecordType("Signature", SignatureRequest, under(SignatureRequest, "Contract", "contract_id"), guarded=False),
    # billing
    RecordType("Installment", Installment, under(Installment, "Contract", "contract_id"), guarded=False,
               readable_with="Contract.paymentPlan"),
    RecordType("Invoice", Invoice, invoices_by_ids, owned=True, timeline=True),
    RecordType("Payment", Payment, payments_by_ids, timeline=True),
    RecordType("PaymentAllocation", PaymentAllocation, under(PaymentAllocation, "Payment", "payment_id"),
               guarded=False),
    # delivery
    RecordType("Project", Project, projects_by_ids, timeline=True, archivable=True, derived={
        # A project's budget is its deal's amount, or its contract's when one is signed.
        "budget": ("Opportunity.amount", "Contract.amount"),
    }),
    RecordType("Task", Task, each(get_task), follows_timeline=True),
    RecordType("TimeEntry", TimeEntry, selected(TimeEntry, visible_entries)),
    RecordType("Timesheet", Timesheet, selected(Timesheet, visible_timesheets), guarded=False,
               follows_timeline=True),
    RecordType("ChangeRequest", ChangeRequest, under(ChangeRequest, "Project", "project_id"), guarded=False,
               follows_timeline=True,
               derived={"budgetBefore": ("Project.budget",), "budgetDelta": ("Project.budget",)}),
    RecordType("Expense", Expense, under(Expense, "Project", "project_id"), guarded=False, follows_timeline=True),
    RecordType("ProgressReport", ProgressReport, under(ProgressReport, "Project", "project_id"), guarded=False),
    RecordType("ProjectTemplate", ProjectTemplate, guarded=False),
    RecordType("CostFigures", guarded=False, derived={"budget": ("Project.budget",)}),
    # collaboration
    RecordType("Comment", Comment, on_record(Comment), guarded=False, follows_timeline=True),
    RecordType("Meeting", Meeting, on_record(Meeting), guarded=False, follows_timeline=True),
    RecordType("ActionItem", ActionItem, on_record(ActionItem), guarded=False, follows_timeline=True),
    # automation
    RecordType("FollowUp", FollowUp, on_record(FollowUp), guarded=False, follows_timeline=True),
    # knowledge base: published articles for every reader, the rest for those who may read drafts
    RecordType("KnowledgeArticle", KnowledgeArticle, articles_by_ids, timeline=True),
    # automation
    RecordType("WorkflowRule", WorkflowRule),
    RecordType("WorkflowRun", WorkflowRun, guarded=False, node=False),
    # service desk: a ticket's messages are read through it (Ticket.replies, Ticket.internalNotes), never alone
    RecordType("Ticket", Ticket, tickets_by_ids, timeline=True),
    RecordType("TicketQueue", TicketQueue, queues_by_ids, guarded=False, org_wide=True),
    RecordType("TicketMessage", TicketMessage, guarded=False, scope="Ticket", node=False),
)}

GUARDED_TYPES = frozenset(name for name, t in RECORD_TYPES.items() if t.guarded)
OWNED_TYPES = frozenset(name for name, t in RECORD_TYPES.items() if t.owned)
TIMELINE_TYPES = frozenset(name for name, t in RECORD_TYPES.items() if t.timeline)
ORG_WIDE_TYPES = frozenset(name for name, t in RECORD_TYPES.items() if t.org_wide)
NODE_TYPES = frozenset(name for name, t in RECORD_TYPES.items() if t.visible is not None)
ARCHIVABLE_TYPES = frozenset(name for name, t in RECORD_TYPES.items() if t.archivable)


def sources(type_name: str, field_name: str) -> tuple[str, ...]:
    """The ``Type.field`` values a field copies or derives from (empty for a field of its own)."""
    record_type = RECORD_TYPES.get(type_name)
    return record_type.derived.get(field_name, ()) if record_type else ()


def scope_type(type_name: str) -> str:
    """The record type whose row scope decides rows of ``type_name``."""
    record_type = RECORD_TYPES.get(type_name)
    return record_type.scope_type if record_type else type_name
