"""`me` and `node(id)`."""

from __future__ import annotations

import strawberry

from domain.billing.payment import PaymentAllocation as AllocationModel
from domain.billing.payment_plan import Installment as InstallmentModel
from domain.collaboration.comment import Comment as CommentModel
from domain.collaboration.meeting import ActionItem as ActionItemModel
from domain.collaboration.meeting import Meeting as MeetingModel
from domain.collaboration.meeting import action_items_of_meetings
from domain.contracts.approval import ContractApprovalStep
from domain.contracts.signature import SignatureRequest
from domain.crm.interaction import get_interaction
from domain.delivery.budget import Expense as ExpenseModel
from domain.delivery.change_request import ChangeRequest as ChangeRequestModel
from domain.delivery.progress import ProgressReport as ReportModel
from domain.delivery.project import ProjectTemplate as TemplateModel
from domain.delivery.task import get_task
from domain.delivery.timesheet import TimeEntry as TimeEntryModel
from domain.delivery.timesheet import Timesheet as TimesheetModel
from domain.delivery.timesheet import visible_entries, visible_timesheets
from domain.sales.product import price_books_by_ids
from domain.shared.errors import NotFound
from schema.comment import Comment
from schema.contact import Contact
from schema.contract import ApprovalStep, Contract, Installment, Signature
from schema.customer import Customer
from schema.interaction import Interaction
from schema.invoice import Invoice
from schema.lead import Lead
from schema.meeting import ActionItem, Meeting
from schema.node import Node, from_global_id, to_global_id
from schema.opportunity import Opportunity
from schema.payment import Payment, PaymentAllocation
from schema.product import PriceBook, Product
from schema.project import ChangeRequest, Expense, ProgressReport, Project, ProjectTemplate
from schema.quote import Quote
from schema.task import Task
from schema.timesheet import TimeEntry, Timesheet
from schema.user import Org, Team, User

from .feed import _visible_record


async def _by_loader(info: strawberry.Info, loader: str, pk: int) -> object:
    found = await getattr(info.context.loaders, loader).load(pk)
    if found is None:
        raise NotFound(loader.title(), pk)
    return found


@strawberry.type
class NodeQuery:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: strawberry.Info) -> User:
        user = await _by_loader(info, "user", info.context.actor.user_id)
        return User.from_model(user)

    @strawberry.field(description="The signed-in user's org.")
    async def my_org(self, info: strawberry.Info) -> Org:
        org = await _by_loader(info, "org", info.context.actor.org_id)
        return Org.from_model(org)

    @strawberry.field(description="Any object by its global id; NOT_FOUND if absent or out of reach.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        ctx = info.context
        actor = ctx.actor
        type_name, pk = from_global_id(id)
        if type_name == "Customer":
            return Customer.from_model(await _by_loader(info, "customer", pk))
        if type_name == "Contact":
            return Contact.from_model(await _by_loader(info, "contact", pk))
        if type_name == "Opportunity":
            return Opportunity.from_model(await _by_loader(info, "opportunity", pk))
        if type_name == "User":
            return User.from_model(await _by_loader(info, "user", pk))
        if type_name == "Team":
            return Team.from_model(await _by_loader(info, "team", pk))
        if type_name == "Org":
            return Org.from_model(await _by_loader(info, "org", pk))
        if type_name == "Lead":
            return Lead.from_model(await _by_loader(info, "lead", pk))
        if type_name in BY_LOADER:
            loader, schema_type = BY_LOADER[type_name]
            return schema_type.from_model(await _by_loader(info, loader, pk))
        if type_name in DELIVERY_TYPES:
            return await _delivery_node(info, type_name, pk)
        if type_name in CONTRACT_PARTS:
            return await _contract_part(info, type_name, pk)
        if type_name == "PaymentAllocation":
            return await _allocation(info, pk)
        if type_name == "PriceBook":
            async with ctx.read() as session:
                found = (await price_books_by_ids(session, actor, [pk])).get(pk)
            if found is None:
                raise NotFound("PriceBook", pk)
            return PriceBook.from_model(found)
        if type_name in ("Comment", "Meeting", "ActionItem"):
            return await _collaboration_node(info, type_name, pk)
        if type_name == "Interaction":
            async with ctx.read() as session:
                return Interaction.from_model(await get_interaction(session, actor, pk))
        raise NotFound("Node", id)


BY_LOADER = {"Product": ("product", Product), "Quote": ("quote", Quote), "Contract": ("contract", Contract),
             "Invoice": ("invoice", Invoice), "Payment": ("payment", Payment), "Project": ("project", Project)}
PROJECT_PARTS = {"ChangeRequest": ChangeRequestModel, "Expense": ExpenseModel, "ProgressReport": ReportModel}


async def _delivery_node(info: strawberry.Info, type_name: str, pk: int) -> Node:
    """Tasks, time and a project's records are visible when the project (or the time entry) is."""
    ctx = info.context
    actor = ctx.actor
    async with ctx.read() as session:
        if type_name == "Task":
            return Task.from_model(await get_task(session, actor, pk))
        if type_name == "Timesheet":
            found = await session.scalar(visible_timesheets(actor).where(TimesheetModel.id == pk))
            if found is None:
                raise NotFound(type_name, pk)
            return Timesheet.from_model(found)
        if type_name == "TimeEntry":
            found = await session.scalar(visible_entries(actor).where(TimeEntryModel.id == pk))
            if found is None:
                raise NotFound(type_name, pk)
            return TimeEntry.from_model(found)
        if type_name == "ProjectTemplate":
            found = await session.get(TemplateModel, pk)
            if found is None or found.org_id != actor.org_id:
                raise NotFound(type_name, pk)
            return ProjectTemplate.from_model(found)
        row = await session.get(PROJECT_PARTS[type_name], pk)
    if row is None or row.org_id != actor.org_id:
        raise NotFound(type_name, pk)
    project = await ctx.loaders.project.load(row.project_id)
    if project is None:
        raise NotFound(type_name, pk)
    if type_name == "ChangeRequest":
        return ChangeRequest.from_model(row, project.currency)
    return Expense.from_model(row) if type_name == "Expense" else ProgressReport.from_model(row)


DELIVERY_TYPES = {"Task", "Timesheet", "TimeEntry", "ProjectTemplate", *PROJECT_PARTS}
CONTRACT_PARTS = {"ApprovalStep": (ContractApprovalStep, ApprovalStep),
                  "Signature": (SignatureRequest, Signature), "Installment": (InstallmentModel, Installment)}


async def _contract_part(info: strawberry.Info, type_name: str, pk: int) -> Node:
    """Approval steps, signatures and installments are visible when their contract is."""
    model, schema_type = CONTRACT_PARTS[type_name]
    if type_name == "Installment" and not info.context.authz.can_read("Contract", "paymentPlan"):
        raise NotFound(type_name, pk)  # a role that may not read the plan may not read it piece by piece
    async with info.context.read() as session:
        row = await session.get(model, pk)
    if row is None or row.org_id != info.context.actor.org_id or \
            await info.context.loaders.contract.load(row.contract_id) is None:
        raise NotFound(type_name, pk)
    return schema_type.from_model(row)


async def _allocation(info: strawberry.Info, pk: int) -> Node:
    async with info.context.read() as session:
        row = await session.get(AllocationModel, pk)
    if row is None or row.org_id != info.context.actor.org_id or \
            await info.context.loaders.payment.load(row.payment_id) is None:
        raise NotFound("PaymentAllocation", pk)
    return PaymentAllocation.from_model(row)


async def _collaboration_node(info: strawberry.Info, type_name: str, pk: int) -> Node:
    """Comments, meetings and action items are visible when the record they belong to is."""
    ctx = info.context
    model = {"Comment": CommentModel, "Meeting": MeetingModel, "ActionItem": ActionItemModel}[type_name]
    async with ctx.read() as session:
        row = await session.get(model, pk)
    if row is None or row.org_id != ctx.actor.org_id:
        raise NotFound(type_name, pk)
    await _visible_record(info, to_global_id(row.record_type, row.record_id))
    if type_name == "Comment":
        return Comment.from_model(row)
    if type_name == "ActionItem":
        return ActionItem.from_model(row)
    async with ctx.read() as session:
        items = await action_items_of_meetings(session, ctx.actor, [row.id])
    return Meeting.from_model(row, items[row.id])
