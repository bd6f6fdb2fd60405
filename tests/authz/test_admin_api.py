"""The admin API (roles, managers, permissions, row scopes, sharing) and myPermissions. Every test edits
the policy of a fresh org of its own; each change applies from the very next request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import casbin
import httpx
import pytest
from casbin import persist
from graphql import build_schema
from sqlalchemy import func, select

from tandem.auth import mint_token
from tandem.authz.store import MODEL_CONF, CasbinRule, current_version, default_lines
from tandem.db import Database
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.registry import GUARDED_TYPES, sources
from tandem.domain.tenancy.org import create_org, create_team
from tandem.domain.tenancy.sharing import RecordShare
from tandem.domain.tenancy.user import ROLES, User, create_user
from tandem.schema.node import to_global_id
from tandem.settings import Settings
from tests.conftest import actor_of

SDL = build_schema((Path(__file__).parents[2] / "schema.graphql").read_text(encoding="utf-8"))
TYPE_ACTIONS = ("create", "update", "delete", "share", "approve", "plan", "terminate", "issue", "void", "credit",
                "allocate", "receivables", "publish")
AMOUNT = "4820000.00"

ASSIGN_ROLE = """
mutation ($input: AssignRoleInput!) {
  assignRole(input: $input) { user { id roles } userErrors { field code } }
}"""
REVOKE_ROLE = """
mutation ($input: AssignRoleInput!) {
  revokeRole(input: $input) { user { id roles } userErrors { field code } }
}"""
SET_MANAGER = """
mutation ($input: SetManagerInput!) {
  setManager(input: $input) { user { id manager { id } } userErrors { field code } }
}"""
SET_PERMISSION = """
mutation ($input: SetPermissionInput!) {
  setPermission(input: $input) { policyVersion userErrors { field code } }
}"""
SET_ROW_SCOPE = """
mutation ($input: SetRowScopeInput!) {
  setRowScope(input: $input) { policyVersion userErrors { field code } }
}"""
SHARE_RECORD = """
mutation ($input: ShareRecordInput!) {
  shareRecord(input: $input) { recordId userErrors { field code } }
}"""
MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id stage } userErrors { field code } }
}"""
MY_PERMISSIONS = "{ myPermissions { type scope actions readableFields writableFields } }"
CUSTOMER = "query ($id: ID!) { customer(id: $id) { id } }"
CUSTOMERS = "{ customers(first: 100) { edges { node { id } } } }"
OPPORTUNITY = "query ($id: ID!) { opportunity(id: $id) { id amount } }"
OPPORTUNITIES = "{ opportunities(first: 100) { edges { node { id } } } }"
STAGE_HISTORY = "query ($id: ID!) { opportunity(id: $id) { id stageHistory { toStage } } }"


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


@dataclass
class Org:
    """A fresh org. manager heads rep1 and rep2; loner is a rep under nobody, in team "East";
    analyst is both sales_rep and finance; one more user per role under ``by_role``."""

    id: int
    team: str
    users: dict[str, User]
    by_role: dict[str, User]
    customers: dict[str, str]
    opportunities: dict[str, str]

    def user(self, key: str) -> str:
        return to_global_id("User", self.users[key].id)


async def new_org(db: Database) -> Org:
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, unique("Admin API"), "CNY")
        east = await create_team(session, org.id, "East")

        async def user(key: str, roles: list[str], **extra: Any) -> User:
            return await create_user(session, org.id, email=f"{key}.{tag}@admin.test", name=key, roles=roles,
                                     **extra)

        manager = await user("manager", ["sales_manager"])
        users = {"admin": await user("admin", ["admin"]), "manager": manager,
                 "rep1": await user("rep1", ["sales_rep"], manager_id=manager.id),
                 "rep2": await user("rep2", ["sales_rep"], manager_id=manager.id),
                 "loner": await user("loner", ["sales_rep"], team_id=east.id),
                 "analyst": await user("analyst", ["sales_rep", "finance"])}
        by_role = {role: await user(f"role-{role}", [role]) for role in ROLES}
        customers, opportunities = {}, {}
        for key in ("rep1", "rep2", "loner"):
            actor = actor_of(users[key])
            customer = await create_customer(session, actor, CustomerInput(name=unique(f"{key}'s customer")))
            opportunity = await create_opportunity(session, actor, OpportunityInput(
                customer_id=customer.id, name=unique(f"{key}'s deal"), amount=Decimal(AMOUNT)))
            customers[key] = to_global_id("Customer", customer.id)
            opportunities[key] = to_global_id("Opportunity", opportunity.id)
    return Org(org.id, to_global_id("Team", east.id), users, by_role, customers, opportunities)


@pytest.fixture
async def org(db: Database) -> Org:
    return await new_org(db)


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings

    async def __call__(self, user: User, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                          headers={"authorization": f"Bearer {mint_token(self.settings, user)}"})
        assert response.status_code == 200, response.text
        return response.json()

    async def payload(self, user: User, query: str, input: dict[str, Any]) -> dict[str, Any]:
        """A mutation that must run; its payload."""
        result = await self(user, query, {"input": input})
        assert "errors" not in result, result
        [payload] = result["data"].values()
        return payload

    async def sees(self, user: User, query: str, record_id: str) -> bool:
        """Whether ``user`` can fetch the record: found, or NOT_FOUND (anything else fails the test)."""
        result = await self(user, query, {"id": record_id})
        [data] = result["data"].values()
        if data is not None:
            assert data["id"] == record_id
            return True
        [error] = result["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        return False

    async def listed(self, user: User, query: str) -> set[str]:
        result = await self(user, query)
        assert "errors" not in result, result
        [connection] = result["data"].values()
        return {edge["node"]["id"] for edge in connection["edges"]}


@pytest.fixture(scope="module")
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


def assert_forbidden(result: dict[str, Any]) -> None:
    [error] = result["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert result.get("data") is None


async def roles_of(db: Database, user: User) -> list[str]:
    async with db.read() as session:
        return list(await session.scalar(select(User.roles).where(User.id == user.id)))


async def manager_of(db: Database, user: User) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(User.manager_id).where(User.id == user.id))


async def policy_state(db: Database, org_id: int) -> tuple[int | None, list[tuple[Any, ...]]]:
    """The org's policy version and rules, read as the owner."""
    async with db.read() as session:
        rules = await session.execute(
            select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.v2, CasbinRule.v3, CasbinRule.v4)
            .where(CasbinRule.v1 == str(org_id)).order_by(CasbinRule.id))
        return await current_version(session, org_id), [tuple(r) for r in rules]


async def shares_in(db: Database, org_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(RecordShare).where(RecordShare.org_id == org_id))


# --- roles -------------------------------------------------------------------------------------------


async def test_assigned_role_applies_from_the_next_request(api, db, org):
    # given: rep2 cannot see rep1's customer
    rep2 = org.users["rep2"]
    assert not await api.sees(rep2, CUSTOMER, org.customers["rep1"])
    # when
    payload = await api.payload(org.users["admin"], ASSIGN_ROLE, {"userId": org.user("rep2"), "role": "finance"})
    # then
    assert payload == {"user": {"id": org.user("rep2"), "roles": ["sales_rep", "finance"]}, "userErrors": []}
    assert await roles_of(db, rep2) == ["sales_rep", "finance"]
    assert await api.sees(rep2, CUSTOMER, org.customers["rep1"])


async def test_revoked_role_applies_from_the_next_request(api, db, org):
    # given: as finance, the analyst sees every customer
    analyst = org.users["analyst"]
    assert await api.sees(analyst, CUSTOMER, org.customers["rep1"])
    # when
    payload = await api.payload(org.users["admin"], REVOKE_ROLE, {"userId": org.user("analyst"), "role": "finance"})
    # then
    assert payload == {"user": {"id": org.user("analyst"), "roles": ["sales_rep"]}, "userErrors": []}
    assert await roles_of(db, analyst) == ["sales_rep"]
    assert not await api.sees(analyst, CUSTOMER, org.customers["rep1"])


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep", "finance", "service", "marketing", "project_manager"])
@pytest.mark.parametrize("document", [ASSIGN_ROLE, REVOKE_ROLE], ids=["assignRole", "revokeRole"])
async def test_only_an_admin_manages_roles(api, db, org, role, document):
    # given
    target = org.users["analyst"]
    before = await roles_of(db, target)
    # when
    result = await api(org.by_role[role], document, {"input": {"userId": org.user("analyst"), "role": "finance"}})
    # then
    assert_forbidden(result)
    assert await roles_of(db, target) == before


@pytest.mark.parametrize("role", ["superuser", "Admin", "", "sales rep"])
async def test_assigning_an_unknown_role_is_invalid(api, db, org, role):
    # when
    payload = await api.payload(org.users["admin"], ASSIGN_ROLE, {"userId": org.user("rep1"), "role": role})
    # then
    assert payload == {"user": None, "userErrors": [{"field": ["role"], "code": "INVALID"}]}
    assert await roles_of(db, org.users["rep1"]) == ["sales_rep"]


async def test_revoking_the_last_admin_is_refused(api, db, org):
    # given: of the org's two admins, one steps down
    admin = org.users["admin"]
    other = to_global_id("User", org.by_role["admin"].id)
    stepped_down = await api.payload(admin, REVOKE_ROLE, {"userId": other, "role": "admin"})
    assert stepped_down == {"user": {"id": other, "roles": []}, "userErrors": []}
    # when: the last one tries to
    payload = await api.payload(admin, REVOKE_ROLE, {"userId": org.user("admin"), "role": "admin"})
    # then
    assert payload == {"user": None, "userErrors": [{"field": ["role"], "code": "LAST_ADMIN"}]}
    assert await roles_of(db, admin) == ["admin"]


async def test_an_admin_can_be_revoked_while_another_admin_remains(api, db, org):
    # given
    admin = org.users["admin"]
    await api.payload(admin, ASSIGN_ROLE, {"userId": org.user("manager"), "role": "admin"})
    # when
    payload = await api.payload(org.users["manager"], REVOKE_ROLE, {"userId": org.user("admin"), "role": "admin"})
    # then
    assert payload == {"user": {"id": org.user("admin"), "roles": []}, "userErrors": []}
    assert_forbidden(await api(admin, SET_ROW_SCOPE, {"input": {"role": "service", "type": "Lead", "scope": "ORG"}}))


# --- managers ----------------------------------------------------------------------------------------


async def test_new_manager_sees_the_reports_records_from_the_next_request(api, db, org):
    # given: loner reports to nobody
    manager = org.users["manager"]
    assert not await api.sees(manager, CUSTOMER, org.customers["loner"])
    # when
    payload = await api.payload(org.users["admin"], SET_MANAGER,
                                {"userId": org.user("loner"), "managerId": org.user("manager")})
    # then
    assert payload == {"user": {"id": org.user("loner"), "manager": {"id": org.user("manager")}}, "userErrors": []}
    assert await manager_of(db, org.users["loner"]) == manager.id
    assert await api.sees(manager, CUSTOMER, org.customers["loner"])


@pytest.mark.parametrize(("user", "manager"), [("manager", "rep1"), ("rep1", "rep1")],
                         ids=["manager-under-own-report", "own-manager"])
async def test_set_manager_refuses_a_cycle(api, db, org, user, manager):
    # given
    before = await manager_of(db, org.users[user])
    # when
    payload = await api.payload(org.users["admin"], SET_MANAGER,
                                {"userId": org.user(user), "managerId": org.user(manager)})
    # then
    assert payload == {"user": None, "userErrors": [{"field": ["managerId"], "code": "INVALID"}]}
    assert await manager_of(db, org.users[user]) == before


async def test_only_an_admin_sets_managers(api, db, org):
    # when
    result = await api(org.users["manager"], SET_MANAGER,
                       {"input": {"userId": org.user("loner"), "managerId": org.user("manager")}})
    # then
    assert_forbidden(result)
    assert await manager_of(db, org.users["loner"]) is None


# --- permissions -------------------------------------------------------------------------------------


async def test_denied_field_is_hidden_from_the_next_request_and_inherit_restores_it(api, db, org):
    # given: rep1 reads the amount of their deal
    rep1, admin = org.users["rep1"], org.users["admin"]
    deal = org.opportunities["rep1"]
    assert await api(rep1, OPPORTUNITY, {"id": deal}) == {"data": {"opportunity": {"id": deal, "amount": AMOUNT}}}
    version, _ = await policy_state(db, org.id)
    deny = {"role": "sales_rep", "resource": "Opportunity.amount", "action": "read", "effect": "DENY"}
    # when
    denied = await api.payload(admin, SET_PERMISSION, deny)
    # then
    assert denied["userErrors"] == []
    assert denied["policyVersion"] > version
    hidden = await api(rep1, OPPORTUNITY, {"id": deal})
    assert hidden["data"] == {"opportunity": {"id": deal, "amount": None}}
    [error] = hidden["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN_FIELD", "field": "Opportunity.amount"}
    # when
    restored = await api.payload(admin, SET_PERMISSION, {**deny, "effect": "INHERIT"})
    # then
    assert restored["userErrors"] == []
    assert restored["policyVersion"] > denied["policyVersion"]
    assert await api(rep1, OPPORTUNITY, {"id": deal}) == {"data": {"opportunity": {"id": deal, "amount": AMOUNT}}}


@pytest.mark.parametrize(("resource", "action", "field"), [
    ("Opportunity.nope", "read", "resource"),
    ("Nope", "create", "resource"),
    ("Nope.amount", "read", "resource"),
    ("Opportunity.Pk", "read", "resource"),
    ("Opportunity.OwnerId", "write", "resource"),
    ("Opportunity.amount", "fly", "action"),
    ("Opportunity.amount", "create", "action"),
    ("Opportunity", "read", "action"),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_set_permission_rejects_an_unknown_resource_or_action(api, db, org, resource, action, field):
    # given
    await api(org.users["admin"], MY_PERMISSIONS)  # the org's policy is seeded on first use
    before = await policy_state(db, org.id)
    # when
    payload = await api.payload(org.users["admin"], SET_PERMISSION,
                                {"role": "sales_rep", "resource": resource, "action": action, "effect": "ALLOW"})
    # then
    assert payload == {"policyVersion": None, "userErrors": [{"field": [field], "code": "INVALID"}]}
    assert await policy_state(db, org.id) == before


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep", "finance", "service", "marketing", "project_manager"])
async def test_only_an_admin_sets_permissions(api, db, org, role):
    # given
    await api(org.users["admin"], MY_PERMISSIONS)
    before = await policy_state(db, org.id)
    # when
    result = await api(org.by_role[role], SET_PERMISSION,
                       {"input": {"role": role, "resource": "Customer", "action": "delete", "effect": "ALLOW"}})
    # then
    assert_forbidden(result)
    assert await policy_state(db, org.id) == before


async def test_denying_a_non_null_field_nulls_that_field_only(api, db, org):
    # given
    rep1, deal = org.users["rep1"], org.opportunities["rep1"]
    await api.payload(org.users["admin"], SET_PERMISSION, {"role": "sales_rep", "resource": "Opportunity.stageHistory",
                                                           "action": "read", "effect": "DENY"})
    # when
    result = await api(rep1, STAGE_HISTORY, {"id": deal})
    # then: the deal is still there, without its history
    assert [e["extensions"] for e in result["errors"]] == [
        {"code": "FORBIDDEN_FIELD", "field": "Opportunity.stageHistory"}]
    assert result["data"] == {"opportunity": {"id": deal, "stageHistory": None}}


@pytest.mark.parametrize(("move", "allowed"), [
    ({"stage": "proposal"}, True),
    ({"stage": "lost", "lostReason": "Budget cut"}, False),
], ids=["without-lostReason", "with-lostReason"])
async def test_a_field_write_denial_applies_only_when_the_field_is_sent(api, db, org, move, allowed):
    # given: reps may no longer write an opportunity's lost reason
    rep1, deal = org.users["rep1"], org.opportunities["rep1"]
    await api.payload(org.users["admin"], SET_PERMISSION, {"role": "sales_rep", "resource": "Opportunity.lostReason",
                                                           "action": "write", "effect": "DENY"})
    # when
    result = await api(rep1, MOVE_STAGE, {"input": {"id": deal, "version": 1, **move}})
    # then
    if allowed:
        assert result == {"data": {"moveOpportunityStage": {"opportunity": {"id": deal, "stage": "proposal"},
                                                            "userErrors": []}}}
    else:
        assert_forbidden(result)
        assert await api(rep1, "query ($id: ID!) { opportunity(id: $id) { stage version } }", {"id": deal}) == {
            "data": {"opportunity": {"stage": "initial_contact", "version": 1}}}


# --- row scopes --------------------------------------------------------------------------------------


async def test_org_row_scope_lets_a_rep_see_a_peers_opportunity(api, db, org):
    # given
    rep1, peer_deal = org.users["rep1"], org.opportunities["rep2"]
    assert not await api.sees(rep1, OPPORTUNITY, peer_deal)
    version, _ = await policy_state(db, org.id)
    # when
    payload = await api.payload(org.users["admin"], SET_ROW_SCOPE,
                                {"role": "sales_rep", "type": "Opportunity", "scope": "ORG"})
    # then
    assert payload["userErrors"] == []
    assert payload["policyVersion"] > version
    assert await api.sees(rep1, OPPORTUNITY, peer_deal)
    assert set(org.opportunities.values()) <= await api.listed(rep1, OPPORTUNITIES)


async def test_none_row_scope_hides_even_own_records(api, db, org):
    # given
    rep1, own_deal = org.users["rep1"], org.opportunities["rep1"]
    assert await api.sees(rep1, OPPORTUNITY, own_deal)
    # when
    payload = await api.payload(org.users["admin"], SET_ROW_SCOPE,
                                {"role": "sales_rep", "type": "Opportunity", "scope": "NONE"})
    # then
    assert payload["userErrors"] == []
    assert not await api.sees(rep1, OPPORTUNITY, own_deal)
    assert await api.listed(rep1, OPPORTUNITIES) == set()
    assert await api.sees(rep1, CUSTOMER, org.customers["rep1"])


async def test_set_row_scope_rejects_a_type_without_row_scope(api, db, org):
    # given
    await api(org.users["admin"], MY_PERMISSIONS)
    before = await policy_state(db, org.id)
    # when
    payload = await api.payload(org.users["admin"], SET_ROW_SCOPE,
                                {"role": "sales_rep", "type": "Contact", "scope": "ORG"})
    # then
    assert payload == {"policyVersion": None, "userErrors": [{"field": ["type"], "code": "INVALID"}]}
    assert await policy_state(db, org.id) == before


async def test_only_an_admin_sets_row_scopes(api, db, org):
    # given
    await api(org.users["admin"], MY_PERMISSIONS)
    before = await policy_state(db, org.id)
    # when
    result = await api(org.users["manager"], SET_ROW_SCOPE,
                       {"input": {"role": "sales_manager", "type": "Opportunity", "scope": "ORG"}})
    # then
    assert_forbidden(result)
    assert await policy_state(db, org.id) == before


# --- sharing -----------------------------------------------------------------------------------------


async def test_shared_customer_becomes_visible_to_the_rep(api, db, org):
    # given: rep2 cannot see rep1's customer; their manager can
    rep2, customer = org.users["rep2"], org.customers["rep1"]
    assert not await api.sees(rep2, CUSTOMER, customer)
    # when
    payload = await api.payload(org.users["manager"], SHARE_RECORD, {"recordId": customer, "userId": org.user("rep2")})
    # then
    assert payload == {"recordId": customer, "userErrors": []}
    assert await api.sees(rep2, CUSTOMER, customer)
    assert await api.listed(rep2, CUSTOMERS) == {customer, org.customers["rep2"]}


async def test_customer_shared_with_a_team_is_visible_to_its_members_only(api, db, org):
    # given
    customer = org.customers["rep1"]
    # when
    payload = await api.payload(org.users["manager"], SHARE_RECORD, {"recordId": customer, "teamId": org.team})
    # then
    assert payload == {"recordId": customer, "userErrors": []}
    assert await api.sees(org.users["loner"], CUSTOMER, customer)
    assert customer in await api.listed(org.users["loner"], CUSTOMERS)
    assert not await api.sees(org.users["rep2"], CUSTOMER, customer)


async def test_sharing_a_record_you_cannot_see_is_not_found(api, db, org):
    # given: loner is not in the manager's chain
    customer = org.customers["loner"]
    # when
    result = await api(org.users["manager"], SHARE_RECORD,
                       {"input": {"recordId": customer, "userId": org.user("rep2")}})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert result.get("data") is None
    assert await shares_in(db, org.id) == 0
    assert not await api.sees(org.users["rep2"], CUSTOMER, customer)


async def test_sharing_with_a_user_of_another_org_is_not_found(api, db, org):
    # given
    other = await new_org(db)
    # when
    result = await api(org.users["manager"], SHARE_RECORD,
                       {"input": {"recordId": org.customers["rep1"], "userId": other.user("rep1")}})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert result.get("data") is None
    assert await shares_in(db, org.id) == 0
    assert await shares_in(db, other.id) == 0


async def test_a_rep_may_not_share(api, db, org):
    # when
    result = await api(org.users["rep1"], SHARE_RECORD,
                       {"input": {"recordId": org.customers["rep1"], "userId": org.user("rep2")}})
    # then
    assert_forbidden(result)
    assert await shares_in(db, org.id) == 0


# --- myPermissions -----------------------------------------------------------------------------------


def oracle(org_id: int) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(MODEL_CONF))
    for ptype, values in default_lines(org_id):
        persist.load_policy_line(", ".join([ptype, *values]), enforcer.get_model())
    enforcer.build_role_links()
    return enforcer


def expected_permissions(enforcer: casbin.Enforcer, role: str, org_id: int) -> list[dict[str, Any]]:
    org = str(org_id)
    scope_of = {"Contact": "Customer", "Interaction": "Customer"}

    def readable(type_name: str, f: str) -> bool:
        """The policy allows it, and every field it copies or derives from (the registry says which)."""
        return f in ("id", "version") or (enforcer.enforce(role, org, f"{type_name}.{f}", "read") and all(
            readable(*source.split(".", 1)) for source in sources(type_name, f)))

    out = []
    for type_name in sorted(GUARDED_TYPES):
        fields = list(SDL.get_type(type_name).fields)  # type: ignore[union-attr]
        scoped = scope_of.get(type_name, type_name)
        scope = "ORG" if type_name == "User" else next(
            (s.upper() for s in ("org", "team", "own") if enforcer.enforce(role, org, scoped, f"read:{s}")), "NONE")
        out.append({
            "type": type_name, "scope": scope,
            "actions": [a for a in TYPE_ACTIONS if enforcer.enforce(role, org, type_name, a)],
            "readableFields": [f for f in fields if readable(type_name, f)],
            "writableFields": [f for f in fields if f not in ("id", "version")
                               and enforcer.enforce(role, org, f"{type_name}.{f}", "write")],
        })
    return out


@pytest.mark.parametrize("role", ROLES)
async def test_my_permissions_match_the_policy(api, org, role):
    # when
    result = await api(org.by_role[role], MY_PERMISSIONS)
    # then
    assert "errors" not in result, result
    assert result["data"]["myPermissions"] == expected_permissions(oracle(org.id), role, org.id)


async def test_service_sees_every_opportunity_but_not_its_amount(api, org):
    # when
    result = await api(org.by_role["service"], MY_PERMISSIONS)
    # then
    opportunity = next(p for p in result["data"]["myPermissions"] if p["type"] == "Opportunity")
    assert opportunity["scope"] == "ORG"
    assert opportunity["actions"] == []
    assert "amount" not in opportunity["readableFields"]
    assert "customFields" not in opportunity["readableFields"]
    assert {"name", "stage", "owner"} <= set(opportunity["readableFields"])


async def test_rep_may_not_write_an_opportunitys_owner(api, org):
    # when
    result = await api(org.by_role["sales_rep"], MY_PERMISSIONS)
    # then
    opportunity = next(p for p in result["data"]["myPermissions"] if p["type"] == "Opportunity")
    assert opportunity["scope"] == "OWN"
    assert opportunity["actions"] == ["create", "update"]
    assert "owner" not in opportunity["writableFields"]
    assert {"name", "amount", "stage"} <= set(opportunity["writableFields"])
