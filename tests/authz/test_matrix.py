"""The authorization matrix, generated from the default policy (authz/policy.csv) with Casbin itself as
the oracle: every role × record type × field read over HTTP, every mutation × role, and the row scope of
every role over every scoped type. Each world lives in a fresh org of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import casbin
import httpx
import pytest
from casbin import persist
from graphql import GraphQLObjectType, build_schema, get_named_type, is_leaf_type
from sqlalchemy import select

from tandem.auth import mint_token
from tandem.authz.store import MODEL_CONF, default_lines
from tandem.db import Database
from tandem.domain.automation.routing import AssignmentMethod, AssignmentRuleInput, RoutedType, create_assignment_rule
from tandem.domain.automation.rule_engine import catalog as sla_catalog
from tandem.domain.automation.sla import PolicyInput as SlaPolicyInput
from tandem.domain.automation.sla import set_policy as set_sla_policy
from tandem.domain.crm.contact import Contact, ContactInput, create_contact
from tandem.domain.crm.customer import Customer, CustomerInput, CustomerTier, LifecycleStage, create_customer
from tandem.domain.crm.interaction import Interaction, InteractionInput, InteractionKind, log_interaction
from tandem.domain.crm.lead import (
    ConvertLeadInput,
    Lead,
    LeadInput,
    LeadSource,
    LeadStatus,
    convert_lead,
    create_lead,
    update_lead,
)
from tandem.domain.delivery.project import add_member, convert_won_opportunity
from tandem.domain.pipeline.competitor import create_competitor
from tandem.domain.pipeline.lost_reason import define_lost_reason
from tandem.domain.pipeline.opportunity import Milestone, Opportunity, OpportunityInput, create_opportunity
from tandem.domain.registry import sources
from tandem.domain.registry.archive import archive_record
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org, create_team
from tandem.domain.tenancy.sharing import RecordShare, share_record
from tandem.domain.tenancy.user import ROLES, User, create_user, set_cost_rate
from tandem.schema.node import to_global_id
from tandem.settings import Settings
from tests.conftest import actor_of

SDL = build_schema((Path(__file__).parents[2] / "schema.graphql").read_text(encoding="utf-8"))
TYPES = ("Customer", "Contact", "Interaction", "Lead", "Opportunity", "User")
SCOPED_TYPES = ("Customer", "Lead", "Opportunity")
ALWAYS_READABLE = {"id", "version"}
SCOPES = ("org", "team", "own")  # widest first


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def oracle(org_id: int) -> casbin.Enforcer:
    """A Casbin enforcer holding the default policy of ``org_id``, built straight from policy.csv."""
    enforcer = casbin.Enforcer(str(MODEL_CONF))
    for ptype, values in default_lines(org_id):
        persist.load_policy_line(", ".join([ptype, *values]), enforcer.get_model())
    enforcer.build_role_links()
    return enforcer


def may_read(enforcer: casbin.Enforcer, role: str, org_id: int, type_name: str, field_name: str) -> bool:
    """What the policy says of ``Type.field``, and of every field the registry says it derives from."""
    return field_name in ALWAYS_READABLE or (
        enforcer.enforce(role, str(org_id), f"{type_name}.{field_name}", "read")
        and all(may_read(enforcer, role, org_id, *source.split(".", 1)) for source in sources(type_name, field_name)))


def scope_of(enforcer: casbin.Enforcer, role: str, org_id: int, record_type: str) -> str:
    return next((s for s in SCOPES if enforcer.enforce(role, str(org_id), record_type, f"read:{s}")), "none")


def selection(type_name: str, field_name: str) -> str:
    """The smallest selection of a field that comes back non-null whenever the field is readable."""
    named = get_named_type(SDL.get_type(type_name).fields[field_name].type)  # type: ignore[union-attr]
    if is_leaf_type(named):
        return field_name
    if named.name.endswith("Connection"):
        return f"{field_name}(first: 5) {{ totalCount }}"
    if isinstance(named, GraphQLObjectType) and "id" in named.fields:
        return f"{field_name} {{ id }}"
    return f"{field_name} {{ __typename }}"


def node_document(type_name: str) -> str:
    fields = " ".join(selection(type_name, f) for f in SDL.get_type(type_name).fields)  # type: ignore[union-attr]
    return f"query ($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{ {fields} }} }} }}"


NODE_DOCUMENTS = {t: node_document(t) for t in TYPES}
FIELD_CASES = [(role, t, f) for role in ROLES for t in TYPES for f in SDL.get_type(t).fields]  # type: ignore[union-attr]

LIST_DOCUMENTS = {
    "Customer": "{ customers(first: 100) { edges { node { id } } } }",
    "Lead": "{ leads(first: 100) { edges { node { id } } } }",
    "Opportunity": "{ opportunities(first: 100) { edges { node { id } } } }",
}
GET_DOCUMENTS = {
    t: "query ($own: ID!, $team: ID!, $deep: ID!, $other: ID!) {"
       + " ".join(f"{alias}: {t.lower()}(id: ${alias}) {{ id }}" for alias in ("own", "team", "deep", "other"))
       + " }"
    for t in SCOPED_TYPES
}


async def post(client: httpx.AsyncClient, settings: Settings, user: User, query: str,
               variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers={"authorization": f"Bearer {mint_token(settings, user)}"})
    assert response.status_code == 200, response.text
    return response.json()


async def new_org(db: Database, name: str) -> tuple[int, int, User, dict[str, User]]:
    """A fresh org: a chief admin over one user of every role, all in one team. Returns
    (org id, team id, chief, users by role)."""
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, unique(name), "CNY")
        team = await create_team(session, org.id, "Matrix team")
        chief = await create_user(session, org.id, email=f"chief.{tag}@matrix.test", name="Chief", roles=["admin"],
                                  team_id=team.id, territory="North")
        users = {role: await create_user(session, org.id, email=f"{role}.{tag}@matrix.test", name=f"{role} user",
                                         roles=[role], manager_id=chief.id, team_id=team.id, territory="East")
                 for role in ROLES}
    return org.id, team.id, chief, users


# --- fields ------------------------------------------------------------------------------------


@dataclass
class FieldWorld:
    client: httpx.AsyncClient
    settings: Settings
    org_id: int
    enforcer: casbin.Enforcer
    users: dict[str, User]
    ids: dict[str, dict[str, str]]
    responses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    async def node(self, role: str, type_name: str) -> dict[str, Any]:
        """The role's own record of the type with every field selected; one request per (role, type)."""
        key = (role, type_name)
        if key not in self.responses:
            self.responses[key] = await post(self.client, self.settings, self.users[role], NODE_DOCUMENTS[type_name],
                                             {"id": self.ids[role][type_name]})
        return self.responses[key]


@pytest.fixture(scope="module")
async def field_world(db: Database, client: httpx.AsyncClient, settings: Settings) -> FieldWorld:
    """Every role user owns one of each record, every field filled in; a record type the role has no
    row scope over is shared with them, so the field policy alone decides what they see."""
    org_id, _, chief, users = await new_org(db, "Field matrix")
    enforcer = oracle(org_id)
    ids: dict[str, dict[str, str]] = {}
    async with db.write() as session:
        for type_name, started in (("Customer", "customer.created"), ("Lead", "lead.created"),
                                   ("Opportunity", "opportunity.created")):  # every record has an SLA status
            await set_sla_policy(session, actor_of(chief), sla_catalog(), SlaPolicyInput(
                object_type=type_name, start_on=[started], stop_on=[started.replace("created", "restored")],
                target_hours=8),
                can_read=lambda *_: True)
        reason = await define_lost_reason(session, actor_of(chief), label="Budget cut", key="budget")
        rival = await create_competitor(session, actor_of(chief), name="对手公司", website="https://rival.example")
        for role, user in users.items():
            # the role user's new lead and deal are routed to them, so each explains its owner
            for kind, clause in ((RoutedType.LEAD, {"field": "region", "eq": f"华东 {role}"}),
                                 (RoutedType.OPPORTUNITY, {"field": "industry", "eq": f"Energy {role}"})):
                await create_assignment_rule(session, actor_of(chief), AssignmentRuleInput(
                    name=f"Matrix {kind.value} {role}", object_type=kind, conditions=[clause],
                    method=AssignmentMethod.ROUND_ROBIN, member_ids=[user.id]))
        for role, user in users.items():
            actor = actor_of(user)
            customer = await create_customer(session, actor, CustomerInput(
                name=unique("Customer"), tags=["matrix"], industry=f"Energy {role}", tier=CustomerTier.KEY,
                lifecycle_stage=LifecycleStage.CUSTOMER, credit_limit=Decimal("250000.00")))
            contact = await create_contact(session, actor, ContactInput(
                customer_id=customer.id, name="Jordan Lee", title="CIO", phone="+86 21 5555 0100",
                email=f"cio.{role}@matrix.example", is_decision_maker=True))
            opportunity = await create_opportunity(session, actor, OpportunityInput(
                customer_id=customer.id, name=unique("Deal"), amount=Decimal("120000.00"), currency="CNY",
                stage="lost", lost_reason="Budget cut", lost_reason_id=reason.id, competitor_ids=[rival.id],
                expected_close_date=date(2027, 1, 31), probability=5,
                next_step="Call back in Q3", next_step_at=datetime(2026, 9, 15, 2, 0, tzinfo=UTC),
                milestones=[Milestone("Kick-off", date(2026, 9, 1), True)],
                project_manager_id=chief.id))
            # a delivery project for it, which the role user works on (so every role sees it), and a cost rate
            project = await convert_won_opportunity(session, actor, opportunity)
            await add_member(session, project, user.id)
            await set_cost_rate(session, actor_of(chief), user.id, Decimal("300"))
            (await session.get(User, user.id)).external_id = f"idp|matrix-{role}"  # their identity provider's id
            interaction = await log_interaction(session, actor, InteractionInput(
                customer_id=customer.id, kind=InteractionKind.MEETING, summary="Quarterly review",
                contact_id=contact.id, opportunity_id=opportunity.id))
            lead = await create_lead(session, actor, LeadInput(
                name="Zhao Min", company=unique("Yunfan"), title="CTO", email=f"zhao.{role}@matrix.example",
                phone="+86 571 8888 0000", source=LeadSource.EVENT, notes="Met at the expo", region=f"华东 {role}",
                industry="制造"))
            # disqualified once, then won back by the conversion (which keeps the reason it had)
            await update_lead(session, actor, lead.id, lead.version, LeadInput(
                name=None, status=LeadStatus.UNQUALIFIED, disqualify_reason="预算冻结",
                set_fields={"status", "disqualify_reason"}))
            converted = await convert_lead(session, actor, ConvertLeadInput(
                lead_id=lead.id, customer_id=customer.id, amount=Decimal("5000.00")))
            for type_name, row in (("Customer", customer), ("Contact", contact), ("Lead", lead),
                                   ("Opportunity", opportunity)):  # archived, still found by id
                await archive_record(session, actor_of(chief), type_name, row.id)
            owned = {"Customer": [customer.id], "Lead": [lead.id],
                     "Opportunity": [opportunity.id, converted.opportunity.id]}
            for record_type, record_ids in owned.items():
                if scope_of(enforcer, role, org_id, record_type) == "none":
                    for record_id in record_ids:
                        await share_record(session, actor_of(chief), record_type=record_type, record_id=record_id,
                                           user_id=user.id, team_id=None)
            ids[role] = {"Customer": to_global_id("Customer", customer.id),
                         "Contact": to_global_id("Contact", contact.id),
                         "Interaction": to_global_id("Interaction", interaction.id),
                         "Lead": to_global_id("Lead", lead.id),
                         "Opportunity": to_global_id("Opportunity", opportunity.id),
                         "User": to_global_id("User", user.id)}
    return FieldWorld(client, settings, org_id, enforcer, users, ids)


def test_the_oracle_reads_the_default_policy():
    # given
    enforcer = oracle(42)
    # then: a few lines of policy.csv, read back
    assert enforcer.enforce("service", "42", "Opportunity.name", "read")
    assert not enforcer.enforce("service", "42", "Opportunity.amount", "read")
    assert not enforcer.enforce("marketing", "42", "Contact.phone", "read")
    assert not enforcer.enforce("sales_rep", "42", "Opportunity.owner", "write")
    assert enforcer.enforce("admin", "42", "Opportunity.owner", "write")
    assert not enforcer.enforce("service", "43", "Opportunity.name", "read")
    assert scope_of(enforcer, "sales_manager", 42, "Opportunity") == "team"
    assert scope_of(enforcer, "finance", 42, "Lead") == "none"


@pytest.mark.parametrize(("role", "type_name", "field_name"), FIELD_CASES,
                         ids=[f"{r}-{t}.{f}" for r, t, f in FIELD_CASES])
async def test_field_is_readable_iff_the_policy_allows_it(field_world, role, type_name, field_name):
    # given
    readable = may_read(field_world.enforcer, role, field_world.org_id, type_name, field_name)
    # when
    result = await field_world.node(role, type_name)
    # then
    node = result["data"]["node"]
    assert node is not None, result
    errors = result.get("errors", [])
    assert [e for e in errors if e["extensions"]["code"] != "FORBIDDEN_FIELD"] == []
    reported = [e for e in errors if e["extensions"].get("field") == f"{type_name}.{field_name}"]
    if readable:
        assert node[field_name] is not None
        assert reported == []
    else:
        assert node[field_name] is None
        [error] = reported
        assert error["extensions"]["code"] == "FORBIDDEN_FIELD"
        assert error["path"] == ["node", field_name]


# --- row scopes --------------------------------------------------------------------------------


@dataclass
class ScopeWorld:
    org_id: int
    enforcer: casbin.Enforcer
    users: dict[str, User]
    records: dict[str, dict[str, dict[str, str]]]
    """Per role, per type: the global id of the record owned by the role user ("own"), by someone right
    below them ("team"), two levels below ("deep") and by an outsider ("other")."""

    def all_ids(self, record_type: str) -> set[str]:
        return {gid for per_type in self.records.values() for gid in per_type[record_type].values()}


@pytest.fixture(scope="module")
async def scope_world(db: Database) -> ScopeWorld:
    org_id, _, chief, users = await new_org(db, "Scope matrix")
    tag = uuid.uuid4().hex[:10]
    records: dict[str, dict[str, dict[str, str]]] = {}
    async with db.write() as session:

        async def owned_by(owner: User) -> dict[str, str]:
            actor = actor_of(owner)
            customer = await create_customer(session, actor, CustomerInput(name=unique("Scoped customer")))
            opportunity = await create_opportunity(session, actor, OpportunityInput(
                customer_id=customer.id, name=unique("Scoped deal"), amount=Decimal("1000.00")))
            lead = await create_lead(session, actor, LeadInput(name=unique("Scoped lead")))
            return {"Customer": to_global_id("Customer", customer.id), "Lead": to_global_id("Lead", lead.id),
                    "Opportunity": to_global_id("Opportunity", opportunity.id)}

        for role, user in users.items():
            sub = await create_user(session, org_id, email=f"sub.{role}.{tag}@matrix.test", name="Sub",
                                    roles=["sales_rep"], manager_id=user.id)
            deep = await create_user(session, org_id, email=f"deep.{role}.{tag}@matrix.test", name="Deep",
                                     roles=["sales_rep"], manager_id=sub.id)
            by_owner = {"own": await owned_by(user), "team": await owned_by(sub), "deep": await owned_by(deep)}
            records[role] = {t: {who: gids[t] for who, gids in by_owner.items()} for t in SCOPED_TYPES}
        other = await owned_by(chief)
    for per_type in records.values():
        for t in SCOPED_TYPES:
            per_type[t]["other"] = other[t]
    return ScopeWorld(org_id, oracle(org_id), users, records)


SCOPE_CASES = [(role, t) for role in ROLES for t in SCOPED_TYPES]


def expected_visible(world: ScopeWorld, role: str, record_type: str) -> set[str]:
    mine = world.records[role][record_type]
    scope = scope_of(world.enforcer, role, world.org_id, record_type)
    return {"none": set(), "own": {mine["own"]}, "team": {mine["own"], mine["team"], mine["deep"]},
            "org": world.all_ids(record_type)}[scope]


@pytest.mark.parametrize(("role", "record_type"), SCOPE_CASES, ids=[f"{r}-{t}" for r, t in SCOPE_CASES])
async def test_list_shows_exactly_the_rows_of_the_roles_scope(scope_world, client, settings, role, record_type):
    # given
    expected = expected_visible(scope_world, role, record_type)
    # when
    result = await post(client, settings, scope_world.users[role], LIST_DOCUMENTS[record_type])
    # then
    assert "errors" not in result, result
    [connection] = result["data"].values()
    listed = {edge["node"]["id"] for edge in connection["edges"]}
    assert listed & scope_world.all_ids(record_type) == expected


@pytest.mark.parametrize(("role", "record_type"), SCOPE_CASES, ids=[f"{r}-{t}" for r, t in SCOPE_CASES])
async def test_record_out_of_scope_is_not_found_never_forbidden(scope_world, client, settings, role, record_type):
    # given
    expected = expected_visible(scope_world, role, record_type)
    records = scope_world.records[role][record_type]
    # when
    result = await post(client, settings, scope_world.users[role], GET_DOCUMENTS[record_type], records)
    # then
    errors = {tuple(e["path"]): e["extensions"]["code"] for e in result.get("errors", [])}
    for alias, gid in records.items():
        if gid in expected:
            assert result["data"][alias] == {"id": gid}
            assert (alias,) not in errors
        else:
            assert result["data"][alias] is None
            assert errors[(alias,)] == "NOT_FOUND"
    assert len(errors) == len(result.get("errors", []))


# --- mutations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MutationCase:
    name: str
    operation: str
    input_type: str
    needs: tuple[tuple[str, str], ...]
    """(object, action) pairs the role must be allowed: the type-level action and a write on every field sent."""
    input: Callable[[dict[str, Any]], dict[str, Any]]

    @property
    def document(self) -> str:
        return (f"mutation ($input: {self.input_type}!) {{ {self.operation}(input: $input) "
                "{ userErrors { field code } } }")


def writes(record_type: str, *fields: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{record_type}.{f}", "write") for f in fields)


MUTATION_CASES = (
    MutationCase("createCustomer", "createCustomer", "CreateCustomerInput",
                 (("Customer", "create"), *writes("Customer", "name", "industry", "creditLimit")),
                 lambda t: {"name": unique("New customer"), "industry": "Energy", "creditLimit": "50000"}),
    MutationCase("createCustomer+ownerId", "createCustomer", "CreateCustomerInput",
                 (("Customer", "create"), *writes("Customer", "name", "owner")),
                 lambda t: {"name": unique("New customer"), "ownerId": t["chief"]}),
    MutationCase("updateCustomer+name", "updateCustomer", "UpdateCustomerInput",
                 (("Customer", "update"), *writes("Customer", "name")),
                 lambda t: {"id": t["customer"], "version": t["customerVersion"], "name": unique("Renamed")}),
    MutationCase("updateCustomer+creditLimit", "updateCustomer", "UpdateCustomerInput",
                 (("Customer", "update"), *writes("Customer", "creditLimit")),
                 lambda t: {"id": t["customer"], "version": t["customerVersion"], "creditLimit": "99000"}),
    MutationCase("updateCustomer+ownerId", "updateCustomer", "UpdateCustomerInput",
                 (("Customer", "update"), *writes("Customer", "owner")),
                 lambda t: {"id": t["customer"], "version": t["customerVersion"], "ownerId": t["chief"]}),
    MutationCase("createContact", "createContact", "CreateContactInput",
                 (("Contact", "create"), *writes("Contact", "customer", "name", "phone", "isDecisionMaker")),
                 lambda t: {"customerId": t["customer"], "name": "Jordan Lee", "phone": "+86 21 5555 0199",
                            "isDecisionMaker": True}),
    MutationCase("logInteraction", "logInteraction", "LogInteractionInput",
                 (("Interaction", "create"), *writes("Interaction", "customer", "kind", "summary")),
                 lambda t: {"customerId": t["customer"], "kind": "CALL", "summary": "First call"}),
    MutationCase("createLead", "createLead", "CreateLeadInput",
                 (("Lead", "create"), *writes("Lead", "name", "company", "source", "status")),
                 lambda t: {"name": "Zhao Min", "company": unique("Yunfan"), "source": "EVENT", "status": "NEW"}),
    MutationCase("createLead+ownerId", "createLead", "CreateLeadInput",
                 (("Lead", "create"), *writes("Lead", "name", "source", "status", "owner")),
                 lambda t: {"name": "Zhao Min", "source": "EVENT", "status": "NEW", "ownerId": t["chief"]}),
    MutationCase("convertLead", "convertLead", "ConvertLeadInput",
                 (("Lead", "update"), ("Lead.status", "write"), ("Customer", "create"), ("Contact", "create"),
                  ("Opportunity", "create"), *writes("Opportunity", "name", "amount")),
                 lambda t: {"leadId": t["lead"], "opportunityName": unique("Converted deal"), "amount": "8000"}),
    MutationCase("createOpportunity", "createOpportunity", "CreateOpportunityInput",
                 (("Opportunity", "create"), *writes("Opportunity", "customer", "name", "amount")),
                 lambda t: {"customerId": t["customer"], "name": unique("New deal"), "amount": "7000"}),
    MutationCase("createOpportunity+ownerId", "createOpportunity", "CreateOpportunityInput",
                 (("Opportunity", "create"), *writes("Opportunity", "customer", "name", "owner")),
                 lambda t: {"customerId": t["customer"], "name": unique("New deal"), "ownerId": t["chief"]}),
    MutationCase("updateOpportunity+nextStep", "updateOpportunity", "UpdateOpportunityInput",
                 (("Opportunity", "update"), *writes("Opportunity", "nextStep")),
                 lambda t: {"id": t["opportunity"], "version": t["opportunityVersion"], "nextStep": "Send quote"}),
    MutationCase("updateOpportunity+ownerId", "updateOpportunity", "UpdateOpportunityInput",
                 (("Opportunity", "update"), *writes("Opportunity", "owner")),
                 lambda t: {"id": t["opportunity"], "version": t["opportunityVersion"], "ownerId": t["chief"]}),
    MutationCase("moveOpportunityStage", "moveOpportunityStage", "MoveOpportunityStageInput",
                 (("Opportunity", "update"), *writes("Opportunity", "stage")),
                 lambda t: {"id": t["opportunity"], "version": t["opportunityVersion"], "stage": "proposal"}),
)
MUTATION_ROLE_CASES = [(case, role) for case in MUTATION_CASES for role in ROLES]


@dataclass
class MutationWorld:
    org_id: int
    enforcer: casbin.Enforcer
    chief: User
    users: dict[str, User]


@pytest.fixture(scope="module")
async def mutation_world(db: Database) -> MutationWorld:
    org_id, _, chief, users = await new_org(db, "Mutation matrix")
    return MutationWorld(org_id, oracle(org_id), chief, users)


async def targets_owned_by(db: Database, world: MutationWorld, user: User) -> dict[str, Any]:
    """A customer, an open opportunity and a new lead owned by ``user``, for a mutation to aim at."""
    async with db.write() as session:
        actor = actor_of(user)
        customer = await create_customer(session, actor, CustomerInput(name=unique("Target customer")))
        opportunity = await create_opportunity(session, actor, OpportunityInput(
            customer_id=customer.id, name=unique("Target deal"), amount=Decimal("1000.00")))
        lead = await create_lead(session, actor, LeadInput(name="Target lead", company=unique("Target Co")))
    return {"customer": to_global_id("Customer", customer.id), "customerVersion": customer.version,
            "opportunity": to_global_id("Opportunity", opportunity.id), "opportunityVersion": opportunity.version,
            "lead": to_global_id("Lead", lead.id), "chief": to_global_id("User", world.chief.id)}


async def org_state(db: Database, org_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the mutations could touch, read as the owner (past row-level security). Of the outbox, the
    events themselves: the relay's bookkeeping on them (positions, publication) moves on its own."""
    state = {}
    async with db.read() as session:
        for model in (Customer, Contact, Interaction, Lead, Opportunity, RecordShare):
            table = model.__table__
            rows = await session.execute(select(*table.columns).where(table.c.org_id == org_id).order_by(table.c.id))
            state[table.name] = [tuple(row) for row in rows]
        events = await session.execute(
            select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.record_type, OutboxEvent.record_id)
            .where(OutboxEvent.org_id == org_id).order_by(OutboxEvent.id))
        state["outbox_event"] = [tuple(row) for row in events]
    return state


@pytest.mark.parametrize(("case", "role"), MUTATION_ROLE_CASES,
                         ids=[f"{c.name}-{r}" for c, r in MUTATION_ROLE_CASES])
async def test_mutation_is_forbidden_and_writes_nothing_unless_the_policy_allows_it(
        mutation_world, db, client, settings, case, role):
    # given
    user = mutation_world.users[role]
    allowed = all(mutation_world.enforcer.enforce(role, str(mutation_world.org_id), obj, act)
                  for obj, act in case.needs)
    targets = await targets_owned_by(db, mutation_world, user)
    before = await org_state(db, mutation_world.org_id)
    # when
    result = await post(client, settings, user, case.document, {"input": case.input(targets)})
    # then
    after = await org_state(db, mutation_world.org_id)
    if allowed:
        assert "errors" not in result, result
        assert result["data"][case.operation]["userErrors"] == []
        assert after != before
    else:
        [error] = result["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert result.get("data") is None
        assert after == before
