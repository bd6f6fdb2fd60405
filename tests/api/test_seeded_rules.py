"""The built-in reminder rules every org starts with, and the ADD_TAG and START_SLA actions.

A new org has three built-in reminder rules (a customer not contacted in 30 days, a contract still in signing 3
days before it ends, a quote expiring in 2 days), and the high intent notice (tests/api/test_intent.py): each
reminder reminds the record's owner once, at its moment and not before, as the scheduler passes with the
injected clock; an admin switches one off like any other rule.
Records are set up through the domain services (tests/factories/quote_to_cash.py: an org of its own);
what people notice is read through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tandem.auth import mint_token
from tandem.domain.contracts.approval import submit_contract
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.sales.quote import send_quote
from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.user import User
from tandem.schema.node import to_global_id
from tests.factories.quote_to_cash import new_contract, new_quote, new_world

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CUSTOMER_RULE = "客户 30 天未联系提醒 Customer not contacted in 30 days"

RULES = """
query ($type: String) {
  workflowRules(objectType: $type) { id name objectType builtIn enabled version author { id } }
}"""
ENABLE_RULE = """
mutation ($input: SetWorkflowRuleEnabledInput!) {
  setWorkflowRuleEnabled(input: $input) { workflowRule { id enabled } userErrors { field code } }
}"""
CREATE_RULE = """
mutation ($input: CreateWorkflowRuleInput!) {
  createWorkflowRule(input: $input) { workflowRule { id } userErrors { field code } }
}"""
UPDATE_RULE = """
mutation ($input: UpdateWorkflowRuleInput!) {
  updateWorkflowRule(input: $input) { workflowRule { id name offsetHours builtIn } userErrors { field code } }
}"""
SET_POLICY = """
mutation ($input: SetSlaPolicyInput!) {
  setSlaPolicy(input: $input) { slaPolicy { objectType } userErrors { code } }
}"""
CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id tags } userErrors { code } }
}"""
CUSTOMER = """
query ($id: ID!) { node(id: $id) { ... on Customer { tags slaStatus { startedAt target breached } } } }"""
INBOX = "query { notifications(first: 50) { edges { node { topic summary recordId } } } }"


class Api:
    def __init__(self, client: Any, settings: Any, users: dict[str, User]) -> None:
        self.client, self.settings, self.users = client, settings, users

    async def __call__(self, query: str, variables: dict | None = None, *, as_: str = "admin") -> dict[str, Any]:
        token = mint_token(self.settings, self.users[as_])
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                          headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert "errors" not in answer, answer
        return answer["data"]

    async def reminders(self, who: str = "rep") -> list[tuple[str, str]]:
        edges = (await self(INBOX, as_=who))["notifications"]["edges"]
        return [(e["node"]["recordId"], e["node"]["summary"]) for e in edges
                if e["node"]["topic"] == "workflow.notified"]


@pytest.fixture
async def org(db, client, settings):
    clock.set(T0)
    world = await new_world(db)
    async with db.read() as s:
        users = {name: await s.scalar(select(User).where(User.id == getattr(world, name).user_id))
                 for name in ("admin", "rep", "manager")}
    yield world, Api(client, settings, users)
    clock.set(None)


async def _pass(app: Any, at: datetime) -> None:
    clock.set(at)
    await app.state.scheduler.tick()


def gid(type_name: str, pk: int) -> str:
    return to_global_id(type_name, pk)


async def test_a_new_org_has_the_four_built_in_rules_enabled_and_authorless(org):
    _, api = org
    rules = (await api(RULES))["workflowRules"]
    assert sorted((r["objectType"], r["builtIn"], r["enabled"], r["author"]) for r in rules) == [
        ("Contract", True, True, None), ("Customer", True, True, None), ("Customer", True, True, None),
        ("Quote", True, True, None)]


async def test_a_customer_not_contacted_for_30_days_reminds_its_owner_once_per_quiet_period(org, db, app):
    world, api = org
    customer = gid("Customer", world.customer.id)  # created at T0, never contacted
    # when the scheduler passes on day 29, just after day 30, and on day 31
    await _pass(app, T0 + timedelta(days=29, hours=23))
    assert await api.reminders() == []
    await _pass(app, T0 + timedelta(days=30, hours=1))
    await _pass(app, T0 + timedelta(days=31))
    # then the owner was reminded once, in Chinese and English
    assert await api.reminders() == [(customer, f"客户「{world.customer.name}」已 30 天未联系，请安排回访。"
                                                f"{world.customer.name} has not been contacted for 30 days: "
                                                "time for a follow-up.")]
    assert await api.reminders("manager") == []
    # when the rep calls on day 32, the next reminder comes 30 days after the call, not before
    clock.set(T0 + timedelta(days=32))
    async with db.write() as s:
        await log_interaction(s, world.rep, InteractionInput(customer_id=world.customer.id, kind=InteractionKind.CALL,
                                                             summary="回访 call"))
    await _pass(app, T0 + timedelta(days=61))
    assert len(await api.reminders()) == 1
    await _pass(app, T0 + timedelta(days=62, hours=1))
    assert len(await api.reminders()) == 2


async def test_a_contract_still_in_signing_reminds_its_owner_3_days_before_it_ends(org, db, app):
    world, api = org
    ends = date(2026, 12, 20)  # its moment: 17 December 00:00 UTC
    waiting = await new_contract(db, world, title="待签合同", end_date=ends)
    async with db.write() as s:
        await submit_contract(s, world.rep, waiting.id, None)
    await new_contract(db, world, title="草稿合同", end_date=ends)  # a draft is not in signing
    await _pass(app, datetime(2026, 12, 16, 23, 0, tzinfo=UTC))
    assert await api.reminders() == []
    await _pass(app, datetime(2026, 12, 17, 1, 0, tzinfo=UTC))
    await _pass(app, datetime(2026, 12, 18, 9, 0, tzinfo=UTC))
    [(record, summary)] = await api.reminders()
    assert record == gid("Contract", waiting.id)
    assert summary.startswith("合同「待签合同」") and "ends in 3 days and is still not signed" in summary


async def test_a_sent_quote_reminds_its_owner_2_days_before_it_expires(org, db, app):
    world, api = org
    expires = date(2026, 12, 15)  # its moment: 13 December 00:00 UTC
    sent = await new_quote(db, world, title="报价 A", valid_until=expires)
    async with db.write() as s:
        await send_quote(s, world.rep, sent.id, None)
    await new_quote(db, world, title="报价 B", valid_until=expires)  # a draft not sent: no reminder
    await _pass(app, datetime(2026, 12, 12, 23, 0, tzinfo=UTC))
    assert await api.reminders() == []
    await _pass(app, datetime(2026, 12, 13, 1, 0, tzinfo=UTC))
    await _pass(app, datetime(2026, 12, 14, 1, 0, tzinfo=UTC))
    [(record, summary)] = await api.reminders()
    assert record == gid("Quote", sent.id)
    assert summary.startswith("报价「报价 A」") and "expires in 2 days" in summary


async def test_a_built_in_rule_switched_off_reminds_nobody_and_can_be_edited(org, app):
    world, api = org
    [rule] = [r for r in (await api(RULES, {"type": "Customer"}))["workflowRules"] if r["name"] == CUSTOMER_RULE]
    switched = (await api(ENABLE_RULE, {"input": {"id": rule["id"], "enabled": False}}))["setWorkflowRuleEnabled"]
    assert switched == {"workflowRule": {"id": rule["id"], "enabled": False}, "userErrors": []}
    await _pass(app, T0 + timedelta(days=30, hours=1))
    assert await api.reminders() == []
    # an admin may change it like any other rule (45 days instead of 30); it stays built in
    [rule] = [r for r in (await api(RULES, {"type": "Customer"}))["workflowRules"] if r["name"] == CUSTOMER_RULE]
    change = {"id": rule["id"], "version": rule["version"], "trigger": "DATE_RELATIVE",
              "dateField": "lastInteractionAt", "offsetHours": 45 * 24}
    edited = (await api(UPDATE_RULE, {"input": change}))["updateWorkflowRule"]
    assert edited["userErrors"] == [] and edited["workflowRule"]["offsetHours"] == 1080
    assert edited["workflowRule"]["builtIn"] is True
    # but not to write comments: nobody would be their author
    comment = {"id": rule["id"], "version": rule["version"] + 1, "actions": [{"type": "ADD_COMMENT", "body": "x"}]}
    refused = (await api(UPDATE_RULE, {"input": comment}))["updateWorkflowRule"]
    assert refused == {"workflowRule": None, "userErrors": [{"field": ["actions", "0"], "code": "INVALID_ACTION"}]}


async def test_add_tag_tags_a_new_customer_and_is_refused_on_records_without_tags(org):
    _, api = org
    made = (await api(CREATE_RULE, {"input": {"name": "标记新客户", "objectType": "Customer", "trigger": "CREATED",
                                              "actions": [{"type": "ADD_TAG", "tag": "新客户"}]}}))
    assert made["createWorkflowRule"]["userErrors"] == []
    customer = (await api(CREATE_CUSTOMER, {"input": {"name": "华东客户", "tags": ["制造"]}}, as_="rep"))
    found = (await api(CUSTOMER, {"id": customer["createCustomer"]["customer"]["id"]}, as_="rep"))["node"]
    assert found["tags"] == ["制造", "新客户"]
    for bad, field in (({"objectType": "Opportunity", "actions": [{"type": "ADD_TAG", "tag": "x"}]}, ["actions", "0"]),
                       ({"objectType": "Customer", "actions": [{"type": "ADD_TAG", "tag": " "}]},
                        ["actions", "0", "tag"])):
        refused = (await api(CREATE_RULE, {"input": {"name": "Bad", "trigger": "CREATED", **bad}}))
        assert refused["createWorkflowRule"] == {"workflowRule": None,
                                                 "userErrors": [{"field": field, "code": "INVALID_ACTION"}]}


async def test_start_sla_starts_the_records_clock_under_its_policy_and_needs_one(org):
    _, api = org
    rule = {"name": "新客户 SLA", "objectType": "Customer", "trigger": "CREATED", "actions": [{"type": "START_SLA"}]}
    # a START_SLA on a record type without an SLA policy is refused, nothing saved
    refused = (await api(CREATE_RULE, {"input": rule}))["createWorkflowRule"]
    assert refused == {"workflowRule": None, "userErrors": [{"field": ["actions", "0"], "code": "INVALID_ACTION"}]}
    assert [r["builtIn"] for r in (await api(RULES, {"type": "Customer"}))["workflowRules"]] == [True, True]
    # given a policy whose own start entry never comes, and the rule
    policy = {"objectType": "Customer", "startOn": ["customer.reassigned"], "stopOn": ["interaction.logged"],
              "targetHours": 24, "calendar": "ALWAYS", "escalations": []}
    assert (await api(SET_POLICY, {"input": policy}))["setSlaPolicy"]["userErrors"] == []
    assert (await api(CREATE_RULE, {"input": rule}))["createWorkflowRule"]["userErrors"] == []
    # when the rep creates a customer, its clock is running from then
    customer = (await api(CREATE_CUSTOMER, {"input": {"name": "计时客户"}}, as_="rep"))["createCustomer"]["customer"]
    clock.set(T0 + timedelta(hours=5))
    status = (await api(CUSTOMER, {"id": customer["id"]}, as_="admin"))["node"]["slaStatus"]
    assert (status["startedAt"], status["target"], status["breached"]) == (T0.isoformat(), 24, False)
