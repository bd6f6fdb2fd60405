"""What the tenancy suite (tests/authz/test_tenancy.py) is made of: the two orgs' records each area
contributes, the cases each area declares, and the helpers that snapshot an org and find global ids
in an answer. Acme's admin is the one asking; Demo is the org whose ids it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from tandem.authz.store import CasbinRule
from tandem.domain.models import Base
from tandem.domain.registry import NODE_TYPES, RECORD_TYPES
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import Org

ACME = "admin@acme.test"
ACME_REP = "rep@acme.test"
NODE = "query ($id: ID!) { node(id: $id) { id __typename } }"
USER_ERRORS = "userErrors { field code }"


@dataclass
class Records:
    """Global ids (and versions) an area names: Demo's records, and Acme's own."""

    demo: dict[str, str] = field(default_factory=dict)
    demo_version: dict[str, int] = field(default_factory=dict)
    acme: dict[str, str] = field(default_factory=dict)
    acme_version: dict[str, int] = field(default_factory=dict)


@dataclass
class World(Records):
    """Every area's records, in one place (a key two areas both name is the same record)."""

    demo_org_id: int = 0
    acme_org_id: int = 0
    demo_cursor: str = ""

    def add(self, records: Records) -> None:
        for mine, theirs in ((self.demo, records.demo), (self.demo_version, records.demo_version),
                             (self.acme, records.acme), (self.acme_version, records.acme_version)):
            clash = {k for k in mine.keys() & theirs.keys() if mine[k] != theirs[k]}
            assert not clash, f"two areas name different records {clash}"
            mine.update(theirs)


@dataclass(frozen=True)
class Case:
    name: str
    document: str
    field: str
    variables: Callable[[World, str | None], dict[str, Any]]
    needs_lead: bool = False
    code: str = "NOT_FOUND"
    nullable: bool = True
    may_be_empty: bool = False
    """A list case whose answer may hold no Acme record yet (events appear once the relay positions them)."""

    @property
    def is_mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")

    @property
    def failed_data(self) -> Any:
        """`data` when the field fails: null up to the root for a non-null field (every payload)."""
        return {self.field: None} if self.nullable and not self.is_mutation else None


def input_of(**fields: Any) -> dict[str, Any]:
    return {"input": fields}


async def created(gql, document: str, field: str, as_: str, /, **input: Any) -> dict[str, Any]:
    result = await gql(document, {"input": input}, as_=as_)
    assert "errors" not in result, result
    assert result["data"][field]["userErrors"] == [], result
    return result["data"][field]


async def first_row(session: Any, model: Any, org_id: int, *where: Any) -> Any:
    return await session.scalar(select(model).where(model.org_id == org_id, *where).order_by(model.id))


# --- what an org owns ------------------------------------------------------------------------


def tenant_tables() -> list[Any]:
    return [t for t in Base.metadata.sorted_tables if "org_id" in t.c]


# What the relay and the scheduler change on their own, in every org, while a test runs: event
# positions and publication marks, reminders (of action items and overdue invoices), escalations
# and the events they record (no actor), and the delivery pass's rescheduling of open projects (the
# scheduled and forecast dates and risk flags it recomputes; baselines are set once and stay).
BACKGROUND_COLUMNS = {"outbox_event": {"position", "published_at"}, "action_item": {"reminded_at"},
                      "invoice": {"reminded_at"},
                      "project": {"percent_complete", "scheduled_finish", "forecast_finish", "schedule_risk",
                                  "cost_risk", "checked_at"},
                      "task": {"early_start", "early_finish", "late_start", "late_finish", "slack_days", "critical",
                               "forecast_start", "forecast_finish", "at_risk"}}
BACKGROUND_TABLES = {"escalation"}


async def org_snapshot(db, org_id: int) -> dict[str, list[tuple]]:
    """Every row the org owns, read through the owner connection: its own row, every tenant table
    and its Casbin policy lines (less what background jobs change by themselves)."""
    org = str(org_id)
    async with db.read() as session:
        snapshot = {"org": [tuple(r) for r in await session.execute(select(Org.__table__).where(Org.id == org_id))]}
        for table in tenant_tables():
            if table.name in BACKGROUND_TABLES:
                continue
            columns = [c for c in table.c if c.name not in BACKGROUND_COLUMNS.get(table.name, ())]
            stmt = select(*columns).where(table.c.org_id == org_id).order_by(*table.primary_key.columns)
            if table.name == "outbox_event":
                stmt = stmt.where(table.c.actor_id.is_not(None))
            snapshot[table.name] = [tuple(r) for r in await session.execute(stmt)]
        rules = select(CasbinRule.__table__).where(or_(
            (CasbinRule.ptype == "p") & (CasbinRule.v1 == org), (CasbinRule.ptype == "g") & (CasbinRule.v2 == org)))
        snapshot["casbin_rule"] = [tuple(r) for r in await session.execute(rules.order_by(CasbinRule.id))]
    return snapshot


def unchanged(after: dict[str, list[tuple]], before: dict[str, list[tuple]]) -> bool:
    """Two snapshots hold the same rows, but for the oldest events the relay's retention may have pruned in
    between: the events after are the last ones before (none new, none changed)."""
    a, b = dict(after), dict(before)
    events_after, events_before = a.pop("outbox_event", []), b.pop("outbox_event", [])
    return a == b and events_after == events_before[len(events_before) - len(events_after):]


def global_ids(value: Any) -> list[str]:
    """Every global id anywhere in a response (`id`, `recordId`, `eventId`, `parentId`, ...)."""
    if isinstance(value, dict):
        return [i for k, v in value.items()
                for i in ([v] if (k == "id" or k.endswith("Id")) and isinstance(v, str) else global_ids(v))]
    if isinstance(value, list):
        return [i for v in value for i in global_ids(v)]
    return []


async def demo_keys(db, demo_org_id: int) -> set[tuple[str, int]]:
    """(type, pk) of every Demo record that has a global id: every record type of the registry, and events."""
    keys: set[tuple[str, int]] = {("Org", demo_org_id)}
    models = [(name, RECORD_TYPES[name].model) for name in sorted(NODE_TYPES)] + [("Event", OutboxEvent)]
    async with db.read() as session:
        for type_name, model in models:
            if "org_id" not in model.__table__.c:
                continue  # the org itself
            pks = await session.scalars(select(model.id).where(model.org_id == demo_org_id))
            keys |= {(type_name, pk) for pk in pks}
    return keys


async def names_of(db, model: Any, org_id: int) -> set[str]:
    async with db.read() as session:
        return set(await session.scalars(select(model.name).where(model.org_id == org_id)))


async def pks_of(db, model: Any, org_id: int) -> set[int]:
    async with db.read() as session:
        return set(await session.scalars(select(model.id).where(model.org_id == org_id)))


async def count_of(db, model: Any, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id))
