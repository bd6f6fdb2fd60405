"""Assignment rules through the API, as an admin configures them and as leads arrive: routing by territory with
its reason shown on the lead, round robin under ten parallel clients, leave, the response SLA run by the
scheduler, and bad input refused with its code."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.scheduler import Scheduler
from tandem.schema.node import to_global_id
from tests.conftest import PG_URL, GraphQLClient
from tests.factories.api.answers import error_code, ok, user_errors

CREATE_RULE = """
mutation ($input: CreateAssignmentRuleInput!) {
  createAssignmentRule(input: $input) {
    assignmentRule { id name objectType method position conditions version responseHours members { name } }
    userErrors { field code }
  }
}"""
UPDATE_RULE = """
mutation ($input: UpdateAssignmentRuleInput!) {
  updateAssignmentRule(input: $input) { assignmentRule { name method version } userErrors { field code } }
}"""
DELETE_RULE = """
mutation ($input: DeleteAssignmentRuleInput!) {
  deleteAssignmentRule(input: $input) { assignmentRule { name } userErrors { field code } }
}"""
REORDER = """
mutation ($input: ReorderAssignmentRulesInput!) {
  reorderAssignmentRules(input: $input) { assignmentRules { name position } userErrors { field code } }
}"""
RULES = "{ assignmentRules { name position method } }"
SET_AVAILABILITY = """
mutation ($input: SetAvailabilityInput!) {
  setAvailability(input: $input) { availability { user { name } awayFrom awayUntil } userErrors { field code } }
}"""
SET_FALLBACK = """
mutation ($input: SetAssignmentFallbackInput!) {
  setAssignmentFallback(input: $input) { fallbackOwner { name } userErrors { field code } }
}"""
CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) {
    lead { id region owner { name } assignment { rule method reason code assignedAt assignee { name } } }
    userErrors { field code }
  }
}"""
LEAD = "query ($id: ID!) { lead(id: $id) { owner { name } assignment { rule method reason } } }"
LEADS = "{ leads(first: 10) { edges { node { region owner { name } assignment { method reason } } } } }"
CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }"""
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) {
    opportunity { owner { name } assignment { rule method reason assignee { name } } } userErrors { field code }
  }
}"""
INBOX = "{ notifications(first: 10) { edges { node { topic } } } }"

MONDAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


async def sales_org(db: Any, gql: GraphQLClient, territories: tuple[str | None, ...] = (None,) * 5
                    ) -> tuple[GraphQLClient, dict[str, User]]:
    """A fresh org (its rules touch no other test's leads): 管理员 (admin), 市场部 (marketing, takes in web leads),
    王经理 (sales manager) and five reps reporting to them; a client posting as any of them."""
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        org = await create_org(s, f"路由 {tag}")
        people = {
            "admin": await create_user(s, org.id, email=f"admin-{tag}@route.test", name="管理员", roles=["admin"]),
            "marketing": await create_user(s, org.id, email=f"mkt-{tag}@route.test", name="市场部",
                                           roles=["marketing"]),
        }
        people["manager"] = await create_user(s, org.id, email=f"mgr-{tag}@route.test", name="王经理",
                                              roles=["sales_manager"])
        for n, name in enumerate(("张伟", "李娜", "王芳", "刘洋", "陈静")):
            people[f"rep{n}"] = await create_user(s, org.id, email=f"rep{n}-{tag}@route.test", name=name,
                                                  roles=["sales_rep"], manager_id=people["manager"].id,
                                                  territory=territories[n])
    return GraphQLClient(gql.http, gql.settings, {u.email: u for u in people.values()}), people


def gid(user: User) -> str:
    return to_global_id("User", user.id)


def reps(people: dict[str, User], n: int = 5) -> list[str]:
    return [gid(people[f"rep{i}"]) for i in range(n)]


async def test_a_web_lead_is_routed_by_territory_with_its_reason_on_the_lead(db: Any, gql: GraphQLClient) -> None:
    # given the admin routes leads by territory; 张伟 covers 华东
    team, people = await sales_org(db, gql, territories=("华东", "华北", None, None, None))
    admin, marketing = people["admin"].email, people["marketing"].email
    created = ok(await team(CREATE_RULE, {"input": {
        "name": "区域分配", "objectType": "LEAD", "method": "TERRITORY", "memberIds": reps(people),
        "conditions": [{"field": "source", "eq": "WEBSITE"}]}}, as_=admin), "createAssignmentRule")
    assert created["assignmentRule"]["conditions"] == [{"field": "source", "eq": "WEBSITE"}]

    # when marketing takes in a lead from the web in 华东
    answer = ok(await team(CREATE_LEAD, {"input": {"name": "赵敏", "source": "WEBSITE", "region": "华东"}},
                           as_=marketing), "createLead")

    # then it is 张伟's, and it says why
    lead = answer["lead"]
    assert lead["owner"] == {"name": "张伟"}
    assignment = lead["assignment"]
    assert {k: assignment[k] for k in ("rule", "method", "reason", "code", "assignee")} == {
        "rule": "区域分配", "method": "TERRITORY", "reason": "territory 华东 matches region 华东: 张伟", "code": None,
        "assignee": {"name": "张伟"}}
    # and 张伟 sees it, with its reason, and was told
    rep = people["rep0"].email
    seen = await team(LEAD, {"id": lead["id"]}, as_=rep)
    assert seen["data"]["lead"]["assignment"]["reason"] == "territory 华东 matches region 华东: 张伟"
    inbox = await team(INBOX, as_=rep)
    assert [e["node"]["topic"] for e in inbox["data"]["notifications"]["edges"]] == ["lead.assigned"]
    # and the list of leads shows it too
    listed = await team(LEADS, as_=people["manager"].email)
    assert listed["data"]["leads"]["edges"] == [{"node": {
        "region": "华东", "owner": {"name": "张伟"},
        "assignment": {"method": "TERRITORY", "reason": "territory 华东 matches region 华东: 张伟"}}}]


async def test_an_opportunity_created_without_an_owner_is_routed_by_its_customers_tier(
        db: Any, gql: GraphQLClient) -> None:
    # given 陈静 covers strategic customers, and a sales manager's strategic customer
    team, people = await sales_org(db, gql, territories=(None, None, None, None, "strategic"))
    ok(await team(CREATE_RULE, {"input": {"name": "战略客户", "objectType": "OPPORTUNITY", "method": "TERRITORY",
                                          "memberIds": reps(people)}}, as_=people["admin"].email),
       "createAssignmentRule")
    manager = people["manager"].email
    customer = ok(await team(CREATE_CUSTOMER, {"input": {"name": "中石化", "tier": "STRATEGIC"}}, as_=manager),
                  "createCustomer")["customer"]["id"]

    # when the manager opens a deal without naming its owner, and another naming themselves
    routed = ok(await team(CREATE_OPPORTUNITY, {"input": {"customerId": customer, "name": "炼化项目"}}, as_=manager),
                "createOpportunity")["opportunity"]
    named = ok(await team(CREATE_OPPORTUNITY, {"input": {"customerId": customer, "name": "二期",
                                                         "ownerId": gid(people["manager"])}}, as_=manager),
               "createOpportunity")["opportunity"]

    # then the first is 陈静's and says why; the second is left as named
    assert routed == {"owner": {"name": "陈静"}, "assignment": {
        "rule": "战略客户", "method": "TERRITORY", "reason": "territory strategic matches tier strategic: 陈静",
        "assignee": {"name": "陈静"}}}
    assert named == {"owner": {"name": "王经理"}, "assignment": None}


async def test_a_lead_no_rule_takes_goes_to_the_fallback_owner(db: Any, gql: GraphQLClient) -> None:
    team, people = await sales_org(db, gql)
    admin = people["admin"].email
    ok(await team(CREATE_RULE, {"input": {"name": "推荐", "objectType": "LEAD", "method": "ROUND_ROBIN",
                                          "memberIds": reps(people, 2),
                                          "conditions": [{"field": "source", "eq": "REFERRAL"}]}}, as_=admin),
       "createAssignmentRule")
    fallback = ok(await team(SET_FALLBACK, {"input": {"ownerId": gid(people["manager"])}}, as_=admin),
                  "setAssignmentFallback")
    assert fallback["fallbackOwner"] == {"name": "王经理"}

    lead = ok(await team(CREATE_LEAD, {"input": {"name": "孙立", "source": "EVENT"}}, as_=people["marketing"].email),
              "createLead")["lead"]

    assert lead["owner"] == {"name": "王经理"}
    assert (lead["assignment"]["method"], lead["assignment"]["reason"]) == (
        None, "no assignment rule matched; fallback owner 王经理")


@pytest.mark.parametrize(("leads", "parallel"), [(1000, True) if PG_URL else (50, False)])
async def test_round_robin_is_fair_across_ten_parallel_clients(db: Any, gql: GraphQLClient, leads: int,
                                                               parallel: bool) -> None:
    # given five reps in turn (however many open leads they hold)
    team, people = await sales_org(db, gql)
    ok(await team(CREATE_RULE, {"input": {"name": "轮流", "objectType": "LEAD", "method": "ROUND_ROBIN",
                                          "memberIds": reps(people), "respectCapacity": False}},
                  as_=people["admin"].email),
       "createAssignmentRule")
    marketing = people["marketing"].email

    async def client(n: int) -> list[str]:
        owners = []
        for i in range(leads // 10):
            answer = ok(await team(CREATE_LEAD, {"input": {"name": f"线索 {n}-{i}"}}, as_=marketing), "createLead")
            owners.append(answer["lead"]["owner"]["name"])
        return owners

    # when ten clients create leads at once (on PostgreSQL; one after another on SQLite, which has one writer)
    if parallel:
        results = await asyncio.gather(*(client(n) for n in range(10)))
    else:
        results = [await client(n) for n in range(10)]

    # then each rep got as many as the others, give or take one
    counts = Counter(name for owners in results for name in owners)
    assert sum(counts.values()) == leads
    assert set(counts) == {"张伟", "李娜", "王芳", "刘洋", "陈静"}
    assert max(counts.values()) - min(counts.values()) <= 1


async def test_a_rep_on_leave_is_skipped(db: Any, gql: GraphQLClient) -> None:
    team, people = await sales_org(db, gql)
    admin = people["admin"].email
    ok(await team(CREATE_RULE, {"input": {"name": "轮流", "objectType": "LEAD", "method": "ROUND_ROBIN",
                                          "memberIds": reps(people, 2)}}, as_=admin), "createAssignmentRule")
    leave = ok(await team(SET_AVAILABILITY, {"input": {
        "userId": gid(people["rep0"]), "from": "2026-06-01T00:00:00Z", "until": "2026-06-08T00:00:00Z"}}, as_=admin),
        "setAvailability")
    assert leave["availability"]["user"] == {"name": "张伟"}
    clock.set(MONDAY)
    try:
        owners = [ok(await team(CREATE_LEAD, {"input": {"name": "线索"}}, as_=people["marketing"].email),
                     "createLead")["lead"]["owner"]["name"] for _ in range(2)]
    finally:
        clock.set(None)
    assert owners == ["李娜", "李娜"]


async def test_an_untouched_lead_is_handed_on_by_the_scheduler_and_the_manager_told(db: Any,
                                                                                    gql: GraphQLClient) -> None:
    # given reps have 2 hours to respond to a lead
    team, people = await sales_org(db, gql)
    ok(await team(CREATE_RULE, {"input": {"name": "限时响应", "objectType": "LEAD", "method": "ROUND_ROBIN",
                                          "memberIds": reps(people, 3), "responseHours": 2}},
                  as_=people["admin"].email), "createAssignmentRule")
    clock.set(MONDAY)
    try:
        lead = ok(await team(CREATE_LEAD, {"input": {"name": "没人理"}}, as_=people["marketing"].email),
                  "createLead")["lead"]
        assert lead["owner"] == {"name": "张伟"}

        # when the scheduler runs 3 hours later
        clock.set(MONDAY + timedelta(hours=3))
        await Scheduler(db.engine).tick()
    finally:
        clock.set(None)

    # then the lead is 李娜's, says why, and 王经理 was told
    seen = (await team(LEAD, {"id": lead["id"]}, as_=people["manager"].email))["data"]["lead"]
    assert seen["owner"] == {"name": "李娜"}
    assert seen["assignment"]["reason"] == "张伟 did not respond within 2 h; round robin: 李娜's turn"
    inbox = await team(INBOX, as_=people["manager"].email)
    assert [e["node"]["topic"] for e in inbox["data"]["notifications"]["edges"]] == ["lead.assigned"]


async def test_rules_are_updated_reordered_and_deleted(db: Any, gql: GraphQLClient) -> None:
    team, people = await sales_org(db, gql)
    admin = people["admin"].email

    async def create(name: str) -> dict[str, Any]:
        return ok(await team(CREATE_RULE, {"input": {"name": name, "objectType": "LEAD", "method": "ROUND_ROBIN",
                                                     "memberIds": reps(people, 2)}}, as_=admin),
                  "createAssignmentRule")["assignmentRule"]

    first, second = await create("甲"), await create("乙")
    updated = ok(await team(UPDATE_RULE, {"input": {"id": first["id"], "version": first["version"],
                                                    "name": "甲（负载）", "method": "LOAD_BALANCED"}}, as_=admin),
                 "updateAssignmentRule")
    assert updated["assignmentRule"] == {"name": "甲（负载）", "method": "LOAD_BALANCED", "version": 2}
    stale = await team(UPDATE_RULE, {"input": {"id": first["id"], "version": 1, "name": "旧"}}, as_=admin)
    assert error_code(stale) == "CONFLICT"
    reordered = ok(await team(REORDER, {"input": {"ids": [second["id"], first["id"]]}}, as_=admin),
                   "reorderAssignmentRules")
    assert reordered["assignmentRules"] == [{"name": "乙", "position": 1}, {"name": "甲（负载）", "position": 2}]
    ok(await team(DELETE_RULE, {"input": {"id": second["id"]}}, as_=admin), "deleteAssignmentRule")
    assert (await team(RULES, as_=admin))["data"]["assignmentRules"] == [
        {"name": "甲（负载）", "position": 2, "method": "LOAD_BALANCED"}]


@pytest.mark.parametrize(("mutation", "name", "given", "expected"), [
    (CREATE_RULE, "createAssignmentRule", {"conditions": [{"field": "预算", "eq": "1"}]},
     [(["conditions", "0", "field"], "UNKNOWN_FIELD")]),
    (CREATE_RULE, "createAssignmentRule", {"conditions": [{"field": "region", "like": "华%"}]},
     [(["conditions", "0"], "INVALID_CONDITION")]),
    (CREATE_RULE, "createAssignmentRule", {"conditions": {"all": "region"}},
     [(["conditions", "0"], "INVALID_CONDITION")]),
    (CREATE_RULE, "createAssignmentRule", {"memberIds": []}, [(["memberIds"], "NO_MEMBERS")]),
    (CREATE_RULE, "createAssignmentRule", {"name": "  "}, [(["name"], "REQUIRED")]),
    (CREATE_RULE, "createAssignmentRule", {"responseHours": -1}, [(["responseHours"], "INVALID")]),
    (CREATE_RULE, "createAssignmentRule", {"objectType": "OPPORTUNITY", "responseHours": 4},
     [(["responseHours"], "INVALID")]),
    (REORDER, "reorderAssignmentRules", None, [(["ids"], "ORDER_MISMATCH")]),
    (SET_AVAILABILITY, "setAvailability", "backwards", [(["until"], "INVALID_DATE_RANGE")]),
    (SET_AVAILABILITY, "setAvailability", "half", [(["until"], "REQUIRED")]),
])
async def test_bad_input_is_refused_with_its_code_and_nothing_changes(
        db: Any, gql: GraphQLClient, mutation: str, name: str, given: Any, expected: list) -> None:
    # given
    team, people = await sales_org(db, gql)
    admin = people["admin"].email
    rule = {"name": "规则", "objectType": "LEAD", "method": "ROUND_ROBIN", "memberIds": reps(people, 2)}
    if mutation == CREATE_RULE:
        variables: dict[str, Any] = {"input": {**rule, **given}}
    elif mutation == REORDER:
        variables = {"input": {"ids": []}}
        ok(await team(CREATE_RULE, {"input": rule}, as_=admin), "createAssignmentRule")
    else:
        until = "2026-05-01T00:00:00Z" if given == "backwards" else None
        variables = {"input": {"userId": gid(people["rep0"]), "from": "2026-06-01T00:00:00Z", "until": until}}
    before = (await team(RULES, as_=admin))["data"]["assignmentRules"]

    # when
    answer = await team(mutation, variables, as_=admin)

    # then
    assert user_errors(answer, name) == expected
    assert (await team(RULES, as_=admin))["data"]["assignmentRules"] == before


@pytest.mark.parametrize("who", ["manager", "rep0", "marketing"])
async def test_only_admins_configure_routing_and_sales_managers_read_it(db: Any, gql: GraphQLClient, who: str) -> None:
    # given a rule the admin made
    team, people = await sales_org(db, gql)
    rule = {"name": "规则", "objectType": "LEAD", "method": "ROUND_ROBIN", "memberIds": reps(people, 2)}
    ok(await team(CREATE_RULE, {"input": rule}, as_=people["admin"].email), "createAssignmentRule")
    as_ = people[who].email

    # when someone else tries to change routing, and to read it
    create = await team(CREATE_RULE, {"input": rule}, as_=as_)
    leave = await team(SET_AVAILABILITY, {"input": {"userId": gid(people["rep0"])}}, as_=as_)
    listed = await team(RULES, as_=as_)

    # then only a sales manager may read the rules; nobody but the admin changes anything
    assert [error_code(create), error_code(leave)] == ["FORBIDDEN"] * 2
    if who == "manager":
        assert listed["data"]["assignmentRules"] == [{"name": "规则", "position": 1, "method": "ROUND_ROBIN"}]
    else:
        assert error_code(listed) == "FORBIDDEN"
    assert (await team(RULES, as_=people["admin"].email))["data"]["assignmentRules"] == [
        {"name": "规则", "position": 1, "method": "ROUND_ROBIN"}]
