"""What the compiled read path knows of each type it can compile: where its rows come from (the same
scoped selects the resolvers' services use), which GraphQL fields are plain columns and how each is
written on the wire, which are to-one relations and which are nested connections.

A field not declared here is not compiled: a query that selects one runs through ordinary execution.
Every declaration mirrors a ``from_model`` in ``schema/`` (``tests/api/test_compiled_reads.py`` runs
the declared fields both ways, for every demo role, and requires identical answers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import select

from tandem.domain.billing.invoice import (
    INVOICE_SORTS,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    filtered_invoices,
    visible_invoices,
)
from tandem.domain.contracts.contract import (
    CONTRACT_SORTS,
    Contract,
    ContractStatus,
    filtered_contracts,
    visible_contracts,
)
from tandem.domain.crm.contact import CONTACT_SORTS, Contact, visible_contacts
from tandem.domain.crm.customer import (
    CUSTOMER_SORTS,
    Customer,
    CustomerTier,
    LifecycleStage,
    filtered_customers,
    visible_customers,
)
from tandem.domain.crm.interaction import INTERACTION_SORT, Interaction, InteractionKind, visible_interactions
from tandem.domain.crm.lead import LEAD_SORT, Lead, LeadSource, LeadStatus, filtered_leads, visible_leads
from tandem.domain.delivery.project import (
    PROJECT_SORTS,
    Health,
    Project,
    ProjectStatus,
    filtered_projects,
    visible_projects,
)
from tandem.domain.pipeline.opportunity import (
    OPPORTUNITY_SORTS,
    Opportunity,
    filtered_opportunities,
    visible_opportunities,
)
from tandem.domain.sales.quote import QUOTE_SORTS, Quote, QuoteStatus, filtered_quotes, visible_quotes
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.archive import listed
from tandem.domain.shared.pagination import SortKey
from tandem.domain.tenancy.user import User

from ..contract import contract_list
from ..customer import customer_list
from ..invoice import invoice_list
from ..lead import lead_list
from ..opportunity import opportunity_list
from ..project import project_list
from ..quote import quote_list


@dataclass(frozen=True)
class Column:
    """A field read from one column: ``kind`` says how it is written (``id``: the global id of the row;
    ``money``: quantized to the currency in ``currency``; ``rate``: a percentage without trailing zeros
    (``schema.scalars.rate``); ``enum``: the member's name; ``bool``, ``date``,
    ``datetime``; ``plain``: as stored)."""

    attr: str
    kind: str = "plain"
    currency: str = "currency"
    enum: type[Enum] | None = None


@dataclass(frozen=True)
class ToOne:
    """A field that is the row ``fk`` points at, if the actor may see it (else null)."""

    fk: str
    target: str


@dataclass(frozen=True)
class Nested:
    """A connection of ``target`` rows whose ``parent`` column is this row's id, in ``sort`` order."""

    target: str
    parent: str
    sort: SortKey
    descending: bool = False
    rows: Callable[[Actor], Any] | None = None
    """The rows it lists, when not its type's source rows (archived ones left out, as the services do)."""


@dataclass(frozen=True)
class Source:
    model: type
    rows: Callable[[Actor], Any]
    """The rows the actor may see (a select of ``model``)."""
    columns: dict[str, Column]
    to_one: dict[str, ToOne] = field(default_factory=dict)
    nested: dict[str, Nested] = field(default_factory=dict)


def _unarchived(rows: Callable[[Actor], Any], model: Any) -> Callable[[Actor], Any]:
    return lambda actor: listed(rows(actor), model, False)


def _org_users(actor: Actor) -> Any:
    return select(User).where(User.org_id == actor.org_id)


def _columns(*plain: str, **special: Column) -> dict[str, Column]:
    """camelCase field -> Column; ``plain`` names are snake_case attributes written as they are."""
    out = {"id": Column("id", "id")}
    for attr in plain:
        head, *rest = attr.split("_")
        out[head + "".join(w.capitalize() for w in rest)] = Column(attr)
    out.update(special)
    return out


SOURCES: dict[str, Source] = {
    "Opportunity": Source(
        Opportunity, visible_opportunities,
        _columns("name", "currency", "probability", "next_step", "lost_reason", "version",
                 stage=Column("stage_key"), amount=Column("amount", "money"),
                 expectedCloseDate=Column("expected_close_date", "date"), createdAt=Column("created_at", "datetime"),
                 nextStepAt=Column("next_step_at", "datetime"),
                 updatedAt=Column("updated_at", "datetime"), stageChangedAt=Column("stage_changed_at", "datetime"),
                 closedAt=Column("closed_at", "datetime"), archivedAt=Column("archived_at", "datetime")),
        to_one={"customer": ToOne("customer_id", "Customer"), "owner": ToOne("owner_id", "User"),
                "projectManager": ToOne("project_manager_id", "User")},
        nested={"interactions": Nested("Interaction", "opportunity_id", INTERACTION_SORT)},
    ),
    "Customer": Source(
        Customer, visible_customers,
        _columns("name", "industry", "currency", "version",
                 tier=Column("tier", "enum", enum=CustomerTier),
                 lifecycleStage=Column("lifecycle_stage", "enum", enum=LifecycleStage),
                 creditLimit=Column("credit_limit", "money"), createdAt=Column("created_at", "datetime"),
                 updatedAt=Column("updated_at", "datetime"), archivedAt=Column("archived_at", "datetime")),
        to_one={"owner": ToOne("owner_id", "User")},
        nested={"interactions": Nested("Interaction", "customer_id", INTERACTION_SORT),
                "contacts": Nested("Contact", "customer_id", CONTACT_SORTS["NAME"],
                                   rows=_unarchived(visible_contacts, Contact)),
                "opportunities": Nested("Opportunity", "customer_id", OPPORTUNITY_SORTS["CREATED_AT"],
                                        descending=True, rows=_unarchived(visible_opportunities, Opportunity))},
    ),
    "Contact": Source(
        Contact, visible_contacts,
        _columns("name", "title", "phone", "email", "version", isDecisionMaker=Column("is_decision_maker", "bool"),
                 createdAt=Column("created_at", "datetime"), archivedAt=Column("archived_at", "datetime")),
        to_one={"customer": ToOne("customer_id", "Customer")},
    ),
    "User": Source(User, _org_users, _columns("email", "name", "territory", "capacity",
                                              active=Column("active", "bool"))),
    "Lead": Source(
        Lead, visible_leads,
        _columns("name", "company", "title", "email", "phone", "notes", "version",
                 source=Column("source", "enum", enum=LeadSource), status=Column("status", "enum", enum=LeadStatus),
                 convertedAt=Column("converted_at", "datetime"), createdAt=Column("created_at", "datetime"),
                 disqualifyReason=Column("disqualify_reason"), archivedAt=Column("archived_at", "datetime"),
                 region=Column("region"), industry=Column("industry")),
        to_one={"owner": ToOne("owner_id", "User"), "convertedCustomer": ToOne("converted_customer_id", "Customer"),
                "convertedOpportunity": ToOne("converted_opportunity_id", "Opportunity")},
    ),
    "Interaction": Source(
        Interaction, visible_interactions,
        _columns("summary", kind=Column("kind", "enum", enum=InteractionKind),
                 occurredAt=Column("occurred_at", "datetime"), createdAt=Column("created_at", "datetime")),
        to_one={"customer": ToOne("customer_id", "Customer")},
    ),
    "Quote": Source(
        Quote, visible_quotes,
        _columns("number", "revision", "title", "currency", "notes", "decision_comment", "version",
                 status=Column("status", "enum", enum=QuoteStatus), validUntil=Column("valid_until", "date"),
                 grossTotal=Column("gross_total", "money"), discountTotal=Column("discount_total", "money"),
                 subtotal=Column("subtotal", "money"), taxTotal=Column("tax_total", "money"),
                 total=Column("total", "money"), maxDiscountPercent=Column("max_discount_percent", "rate"),
                 needsApproval=Column("needs_approval", "bool"),
                 submittedAt=Column("submitted_at", "datetime"), decidedAt=Column("decided_at", "datetime"),
                 sentAt=Column("sent_at", "datetime"), acceptedAt=Column("accepted_at", "datetime"),
                 createdAt=Column("created_at", "datetime"), updatedAt=Column("updated_at", "datetime"),
                 archivedAt=Column("archived_at", "datetime")),
        to_one={"opportunity": ToOne("opportunity_id", "Opportunity"), "customer": ToOne("customer_id", "Customer"),
                "owner": ToOne("owner_id", "User"), "decidedBy": ToOne("decided_by_id", "User"),
                "previousRevision": ToOne("previous_id", "Quote")},
    ),
    "Contract": Source(
        Contract, visible_contracts,
        _columns("number", "title", "currency", "terms", "approval_round", "amendment_reason", "termination_reason",
                 "version", status=Column("status", "enum", enum=ContractStatus), amount=Column("amount", "money"),
                 taxRate=Column("tax_rate", "rate"), startDate=Column("start_date", "date"),
                 endDate=Column("end_date", "date"),
                 submittedAt=Column("submitted_at", "datetime"), approvedAt=Column("approved_at", "datetime"),
                 activatedAt=Column("activated_at", "datetime"), terminatedOn=Column("terminated_on", "date"),
                 createdAt=Column("created_at", "datetime"), updatedAt=Column("updated_at", "datetime"),
                 archivedAt=Column("archived_at", "datetime")),
        to_one={"customer": ToOne("customer_id", "Customer"), "opportunity": ToOne("opportunity_id", "Opportunity"),
                "quote": ToOne("quote_id", "Quote"), "owner": ToOne("owner_id", "User"),
                "amends": ToOne("amends_id", "Contract")},
    ),
    "Invoice": Source(
        Invoice, visible_invoices,
        _columns("number", "currency", "notes", "void_reason", "version",
                 kind=Column("kind", "enum", enum=InvoiceKind), status=Column("status", "enum", enum=InvoiceStatus),
                 issueDate=Column("issue_date", "date"), dueDate=Column("due_date", "date"),
                 subtotal=Column("subtotal", "money"), taxTotal=Column("tax_total", "money"),
                 total=Column("total", "money"), amountPaid=Column("amount_paid", "money"),
                 amountCredited=Column("amount_credited", "money"), paidOn=Column("paid_on", "date"),
                 voidedAt=Column("voided_at", "datetime"), createdAt=Column("created_at", "datetime"),
                 updatedAt=Column("updated_at", "datetime")),
        to_one={"customer": ToOne("customer_id", "Customer"), "contract": ToOne("contract_id", "Contract"),
                "creditedInvoice": ToOne("credited_invoice_id", "Invoice")},
    ),
    "Project": Source(
        Project, visible_projects,
        _columns("number", "name", "description", "currency", "version",
                 status=Column("status", "enum", enum=ProjectStatus), health=Column("health", "enum", enum=Health),
                 budget=Column("budget", "money"), startDate=Column("start_date", "date"),
                 deadline=Column("deadline", "date"), plannedFinish=Column("planned_finish", "date"),
                 scheduledFinish=Column("scheduled_finish", "date"), forecastFinish=Column("forecast_finish", "date"),
                 scheduleRisk=Column("schedule_risk", "bool"), costRisk=Column("cost_risk", "bool"),
                 costMarginPercent=Column("cost_margin_percent", "rate"),
                 changeThresholdPercent=Column("change_threshold_percent", "rate"),
                 createdAt=Column("created_at", "datetime"), closedAt=Column("closed_at", "datetime"),
                 archivedAt=Column("archived_at", "datetime")),
        to_one={"customer": ToOne("customer_id", "Customer"), "manager": ToOne("manager_id", "User"),
                "salesOwner": ToOne("sales_owner_id", "User"), "opportunity": ToOne("opportunity_id", "Opportunity"),
                "contract": ToOne("contract_id", "Contract")},
    ),
}


@dataclass(frozen=True)
class RootList:
    """A root list field: the type of its rows, its resolver's argument check (returning a
    ``ListRequest``), the domain's filtered select and its sorts."""

    type_name: str
    asked: Callable[..., Any]
    rows: Callable[[Any, Actor, Any], Any]
    sorts: dict[str, SortKey]


LISTS = {
    "opportunities": RootList("Opportunity", opportunity_list, filtered_opportunities, OPPORTUNITY_SORTS),
    "customers": RootList("Customer", customer_list, filtered_customers, CUSTOMER_SORTS),
    "leads": RootList("Lead", lead_list, lambda session, actor, flt: filtered_leads(actor, flt),
                      {"CREATED_AT": LEAD_SORT}),
    "quotes": RootList("Quote", quote_list, lambda session, actor, flt: filtered_quotes(actor, flt), QUOTE_SORTS),
    "contracts": RootList("Contract", contract_list, filtered_contracts, CONTRACT_SORTS),
    "invoices": RootList("Invoice", invoice_list, lambda session, actor, flt: filtered_invoices(actor, flt),
                         INVOICE_SORTS),
    "projects": RootList("Project", project_list, filtered_projects, PROJECT_SORTS),
}
ONES = {"opportunity": "Opportunity", "customer": "Customer", "lead": "Lead", "quote": "Quote",
        "contract": "Contract", "invoice": "Invoice", "project": "Project"}
"""Root fields of one record by id (NOT_FOUND when absent or out of reach: ordinary execution says so)."""
