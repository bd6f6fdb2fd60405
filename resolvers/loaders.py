"""Per-request DataLoaders: one batched, org- and scope-filtered query per relation and page shape."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from tandem.domain.automation.intent import intents_of
from tandem.domain.automation.routing import assignments_of
from tandem.domain.automation.sla import statuses_of as sla_statuses_of
from tandem.domain.billing.invoice import invoices_of_contracts, live_invoices_of_installments
from tandem.domain.billing.invoice import lines_of as invoice_lines_of
from tandem.domain.billing.payment import allocations_of_invoices, allocations_of_payments
from tandem.domain.billing.payment_plan import installments_of
from tandem.domain.collaboration.comment import edits_of
from tandem.domain.contracts.approval import steps_of
from tandem.domain.contracts.signature import signatures_of
from tandem.domain.crm.contact import contacts_of_customers
from tandem.domain.crm.interaction import interactions_of
from tandem.domain.delivery.budget import costs_of, expenses_of
from tandem.domain.delivery.change_request import changes_of
from tandem.domain.delivery.progress import reports_of
from tandem.domain.delivery.project import members_of, projects_by_ids, projects_of_opportunities
from tandem.domain.delivery.task import tasks_of
from tandem.domain.delivery.timesheet import entries_of_timesheets
from tandem.domain.pipeline.opportunity import opportunities_of_customers, stage_history_of
from tandem.domain.registry import RECORD_TYPES
from tandem.domain.sales.product import entries_of
from tandem.domain.sales.quote import lines_of as quote_lines_of
from tandem.domain.service.ticket import messages_of as ticket_messages_of
from tandem.domain.service.ticket import tickets_of_customers
from tandem.domain.shared.pagination import PageRequest

if TYPE_CHECKING:
    from .context import Context

PageKey = tuple[int, PageRequest, bool]


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._records: dict[str, DataLoader[int, Any]] = {}
        self.user = self.of("User")
        self.team = self.of("Team")
        self.org = self.of("Org")
        self.customer = self.of("Customer")
        self.contact = self.of("Contact")
        self.lead = self.of("Lead")
        self.opportunity = self.of("Opportunity")
        self.stage_history = self._by_id(lambda s, ids: stage_history_of(s, ctx.actor, ids))
        self.intent_of_customer = self._by_id(lambda s, ids: intents_of(s, ctx.actor, ids))
        self.comment_edits = self._by_id(lambda s, ids: edits_of(s, ctx.actor, ids))
        self.product = self.of("Product")
        self.price_book_entries = self._by_id(lambda s, ids: entries_of(s, ctx.actor, ids))
        self.quote = self.of("Quote")
        self.quote_lines = self._by_id(lambda s, ids: quote_lines_of(s, ctx.actor, ids))
        self.contract = self.of("Contract")
        self.contract_steps = self._by_id(lambda s, ids: steps_of(s, ctx.actor, ids))
        self.signatures = self._by_id(lambda s, ids: signatures_of(s, ctx.actor, ids))
        self.installments = self._by_id(lambda s, ids: installments_of(s, ctx.actor, ids))
        self.invoice = self.of("Invoice")
        self.invoice_lines = self._by_id(lambda s, ids: invoice_lines_of(s, ctx.actor, ids))
        self.invoices_of_contract = self._by_id(lambda s, ids: invoices_of_contracts(s, ctx.actor, ids))
        self.invoice_of_installment = self._by_id(lambda s, ids: live_invoices_of_installments(s, ctx.actor, ids))
        self.payment = self.of("Payment")
        self.allocations_of_payment = self._by_id(lambda s, ids: allocations_of_payments(s, ctx.actor, ids))
        self.allocations_of_invoice = self._by_id(lambda s, ids: allocations_of_invoices(s, ctx.actor, ids))
        self.project = self.of("Project")
        self.project_of_opportunity = self._by_id(lambda s, ids: projects_of_opportunities(s, ctx.actor, ids))
        self.tasks_of_project = self._by_id(lambda s, ids: tasks_of(s, ctx.actor, ids))
        self.members_of_project = self._by_id(lambda s, ids: members_of(s, ctx.actor, ids))
        self.project_costs = self._by_id(self._costs)
        self.reports_of_project = self._by_id(lambda s, ids: reports_of(s, ctx.actor, ids))
        self.expenses_of_project = self._by_id(lambda s, ids: expenses_of(s, ctx.actor, ids))
        self.changes_of_project = self._by_id(lambda s, ids: changes_of(s, ctx.actor, ids))
        self.entries_of_timesheet = self._by_id(lambda s, ids: entries_of_timesheets(s, ctx.actor, ids))
        self.ticket_replies = self._by_id(lambda s, ids: ticket_messages_of(s, ctx.actor, ids, internal=False))
        self.ticket_notes = self._by_id(lambda s, ids: ticket_messages_of(s, ctx.actor, ids, internal=True))
        self.contacts_of_customer = self._pages(
            lambda s, ids, req, total: contacts_of_customers(s, ctx.actor, ids, req, with_total=total))
        self.interactions_of_customer = self._pages(
            lambda s, ids, req, total: interactions_of(s, ctx.actor, "customer", ids, req, with_total=total))
        self.interactions_of_opportunity = self._pages(
            lambda s, ids, req, total: interactions_of(s, ctx.actor, "opportunity", ids, req, with_total=total))
        self.tickets_of_customer = self._pages(
            lambda s, ids, req, total: tickets_of_customers(s, ctx.actor, ids, req, with_total=total))
        self.opportunities_of_customer = self._pages(
            lambda s, ids, req, total: opportunities_of_customers(s, ctx.actor, ids, req, with_total=total))

    async def _costs(self, session: Any, ids: list[int]) -> dict[int, Any]:
        """Budget and earned value of each visible project (a few aggregate queries for all of them)."""
        projects = await projects_by_ids(session, self.ctx.actor, ids)
        return await costs_of(session, list(projects.values()))

    def assignment(self, record_type: str) -> DataLoader[int, Any]:
        """The current assignment (routing) of records of a type, by record id (None: never routed)."""
        key = f"assignment:{record_type}"
        loader = self._records.get(key)
        if loader is None:
            loader = self._records[key] = self._by_id(
                lambda s, ids: assignments_of(s, self.ctx.actor.org_id, record_type, ids))
        return loader

    def sla_status(self, record_type: str) -> DataLoader[int, Any]:
        """The SLA status of records of a type, by record id (None: no policy applies, or no clock started)."""
        key = f"sla:{record_type}"
        loader = self._records.get(key)
        if loader is None:
            loader = self._records[key] = self._by_id(
                lambda s, ids: sla_statuses_of(s, self.ctx.actor.org_id, record_type, ids))
        return loader

    def of(self, type_name: str) -> DataLoader[int, Any]:
        """The rows of a record type the actor may see, by id (the registry's visibility of the type)."""
        loader = self._records.get(type_name)
        if loader is None:
            visible = RECORD_TYPES[type_name].visible
            assert visible is not None, f"{type_name} has no rows of its own"
            loader = self._records[type_name] = self._by_id(lambda s, ids: visible(s, self.ctx.actor, ids))
        return loader

    def _by_id(self, fetch: Callable[[Any, list[int]], Awaitable[dict[int, Any]]]) -> DataLoader[int, Any]:
        async def batch(keys: Sequence[int]) -> list[Any]:
            async with self.ctx.read() as session:
                found = await fetch(session, list(dict.fromkeys(keys)))
            return [found.get(k) for k in keys]

        return DataLoader(load_fn=batch)

    def _pages(self, fetch: Callable[..., Awaitable[dict[int, Any]]]) -> DataLoader[PageKey, Any]:
        """Keys are (parent id, page request, with total); one query per distinct page shape."""

        async def batch(keys: Sequence[PageKey]) -> list[Any]:
            groups: dict[tuple[PageRequest, bool], list[int]] = defaultdict(list)
            for parent_id, req, total in keys:
                groups[(req, total)].append(parent_id)
            results: dict[PageKey, Any] = {}
            for (req, total), parent_ids in groups.items():
                try:
                    async with self.ctx.read() as session:
                        pages = await fetch(session, list(dict.fromkeys(parent_ids)), req, total)
                except Exception as exc:  # the same error for every key of this shape
                    for pid in parent_ids:
                        results[(pid, req, total)] = exc
                    continue
                for pid in parent_ids:
                    results[(pid, req, total)] = pages[pid]
            return [results[k] for k in keys]

        return DataLoader(load_fn=batch)
