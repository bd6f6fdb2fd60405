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
from tandem.domain.pipeline.opportunity import (
    OPPORTUNITY_SORTS,
    Opportunity,
    filtered_opportunities,
    visible_opportunities,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.archive import listed
from tandem.domain.shared.pagination import SortKey
from tandem.domain.tenancy.user import User

from ..customer import customer_list
from ..lead import lead_list
from ..opportunity import opportunity_list


@dataclass(frozen=True)
class Column:
    """A field read from one column: ``kind`` says how it is written (``id``: the global id of the row;
    ``money``: quantized to the currency in ``currency``; ``enum``: the member's name; ``bool``, ``date``,
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
}
ONES = {"opportunity": "Opportunity", "customer": "Customer", "lead": "Lead"}
"""Root fields of one record by id (NOT_FOUND when absent or out of reach: ordinary execution says so)."""
