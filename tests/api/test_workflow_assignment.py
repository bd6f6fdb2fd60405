"""A workflow rule's ASSIGN through an assignment rule, through the API: the record goes to the member the routing
rule picks by its method (a lead by territory, leave respected; a deal by load), its ``assignment`` naming the
workflow rule and the reason; when the rule finds nobody the owner keeps it and the run says why; a rule naming an
assignment rule of another kind, of another org, or none at all is refused with its code and nothing is saved."""

from __future__ import annotations

from typing import Any

from tandem.domain.shared.clock import clock
from tests.api.test_assignment_rules import CREATE_CUSTOMER, MONDAY, SET_AVAILABILITY, gid, reps, sales_org
from tests.api.test_assignment_rules import CREATE_RULE as CREATE_ASSIGNMENT_RULE
from tests.conftest import GraphQLClient
from tests.factories.api.answers import error_code, ok, user_errors

CREATE_WORKFLOW_RULE = """
mutation ($input: CreateWorkflowRuleInput!) {
  createWorkflowRule(input: $input) { workflowRule { id name actions } userErrors { field code } }
}"""
WORKFLOW_RULES = "{ workflowRules { name } }"
RUNS = """
query ($rule: ID) { workflowRuns(ruleId: $rule, first: 10) { edges { node { matched actionsDone errors } } } }"""
CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id version owner { name } assignment { rule } } userErrors { field code } }
}"""
UPDATE_LEAD = """
mutation ($input: UpdateLeadInput!) {
  updateLead(input: $input) { lead { id version } userErrors { field code } }
}"""
LEAD = """
query ($id: ID!) {
  lead(id: $id) { owner { name } assignment { rule method reason code assignee { name } } }
}"""
CREATE_DEAL = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version owner { name } } userErrors { field code } }
}"""
UPDATE_DEAL = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity { owner { name } assignment { rule method reason } } userErrors { field code }
  }
}"""
INBOX = "{ notifications(first: 10) { edges { node { topic recordId } } } }"
QUALIFIED_TO_TERRITORY = "合格线索按区域分配 Qualified leads by territory"


async def _routing_rule(team: GraphQLClient, people: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A territory rule that routes no new lead itself (it holds for qualified leads only)."""
    data = {"name": "区域分配", "objectType": "LEAD", "method": "TERRITORY", "memberIds": reps(people, 3),
            "conditions": [{"field": "status", "eq": "QUALIFIED"}], **fields}
    return ok(await team(CREATE_ASSIGNMENT_RULE, {"input": data}, as_=people["admin"].email),
              "createAssignmentRule")["assignmentRule"]


async def _workflow_rule(team: GraphQLClient, people: dict[str, Any], routing_id: str) -> dict[str, Any]:
    return ok(await team(CREATE_WORKFLOW_RULE, {"input": {
        "name": QUALIFIED_TO_TERRITORY, "objectType": "Lead", "trigger": "STATUS_CHANGED", "status": "qualified",
        "actions": [{"type": "ASSIGN", "to": "ASSIGNMENT_RULE", "assignmentRuleId": routing_id}]}},
        as_=people["admin"].email), "createWorkflowRule")["workflowRule"]


async def _qualified_lead(team: GraphQLClient, people: dict[str, Any], region: str) -> str:
    admin = people["admin"].email
    lead = ok(await team(CREATE_LEAD, {"input": {"name": "赵敏", "source": "WEBSITE", "region": region}}, as_=admin),
              "createLead")["lead"]
    assert (lead["owner"], lead["assignment"]) == ({"name": "管理员"}, None)  # not routed when it came in
    ok(await team(UPDATE_LEAD, {"input": {"id": lead["id"], "version": lead["version"], "status": "QUALIFIED"}},
                  as_=admin), "updateLead")
    return lead["id"]


async def test_a_qualified_lead_is_assigned_by_territory_through_the_named_assignment_rule(
        db: Any, gql: GraphQLClient) -> None:
    # given 张伟 and 李娜 cover 华东, and a workflow rule handing qualified leads to the territory rule
    team, people = await sales_org(db, gql, territories=("华东", "华东、华北", None, None, None))
    routing = await _routing_rule(team, people)
    rule = await _workflow_rule(team, people, routing["id"])
    assert rule["actions"] == [{"type": "ASSIGN", "to": "ASSIGNMENT_RULE", "assignmentRuleId": routing["id"]}]

    # when the admin qualifies a lead from 华东
    lead = await _qualified_lead(team, people, "华东")

    # then it is 张伟's, and its assignment names the routing rule, its method and why
    seen = (await team(LEAD, {"id": lead}, as_=people["manager"].email))["data"]["lead"]
    assert seen == {"owner": {"name": "张伟"}, "assignment": {
        "rule": "区域分配", "method": "TERRITORY", "code": None, "assignee": {"name": "张伟"},
        "reason": f"workflow rule {QUALIFIED_TO_TERRITORY}: territory 华东 matches region 华东: 张伟"}}
    # and 张伟 was told
    inbox = (await team(INBOX, as_=people["rep0"].email))["data"]["notifications"]["edges"]
    assert [(e["node"]["topic"], e["node"]["recordId"]) for e in inbox] == [("lead.assigned", lead)]
    # and the run says what was done
    [run] = [e["node"] for e in (await team(RUNS, {"rule": rule["id"]}, as_=people["admin"].email))
             ["data"]["workflowRuns"]["edges"]]
    assert run["matched"] is True and run["errors"] == []
    [done] = run["actionsDone"]
    assert (done["type"], done["assignmentRuleId"], done["method"]) == ("ASSIGN", routing["id"], "territory")


async def test_a_member_on_leave_is_passed_over_and_when_nobody_can_take_it_the_owner_keeps_it(
        db: Any, gql: GraphQLClient) -> None:
    # given 张伟 is on leave this week
    team, people = await sales_org(db, gql, territories=("华东", "华东、华北", None, None, None))
    routing = await _routing_rule(team, people)
    rule = await _workflow_rule(team, people, routing["id"])
    ok(await team(SET_AVAILABILITY, {"input": {
        "userId": gid(people["rep0"]), "from": "2026-06-01T00:00:00Z", "until": "2026-06-08T00:00:00Z"}},
        as_=people["admin"].email), "setAvailability")
    clock.set(MONDAY)
    try:
        # when a lead from 华东 and one from 华南 are qualified
        east = await _qualified_lead(team, people, "华东")
        south = await _qualified_lead(team, people, "华南")
    finally:
        clock.set(None)

    # then 李娜 takes the first, and the reason says who was passed over
    seen = (await team(LEAD, {"id": east}, as_=people["admin"].email))["data"]["lead"]
    assert seen["owner"] == {"name": "李娜"}
    assert seen["assignment"]["reason"] == (f"workflow rule {QUALIFIED_TO_TERRITORY}: territory 华东 matches region "
                                            "华东: 李娜; passed over: 张伟 is on leave until 2026-06-08 00:00 UTC")
    # and nobody covers 华南: the admin keeps it, and the run says why
    seen = (await team(LEAD, {"id": south}, as_=people["admin"].email))["data"]["lead"]
    assert seen == {"owner": {"name": "管理员"}, "assignment": None}
    runs = [e["node"] for e in (await team(RUNS, {"rule": rule["id"]}, as_=people["admin"].email))
            ["data"]["workflowRuns"]["edges"]]
    assert [r["errors"] for r in runs][0] == [{
        "code": "ACTION_FAILED", "action": 0,
        "message": "rule 区域分配: no member's territory covers region 华南"}]


async def test_a_big_deal_goes_to_the_least_loaded_member_of_the_named_opportunity_rule(
        db: Any, gql: GraphQLClient) -> None:
    # given a load-balanced rule for deals (routing no new deal itself), 张伟 with two open deals and 李娜 with none,
    # and a workflow rule handing deals raised to a million to it
    team, people = await sales_org(db, gql)
    admin, rep = people["admin"].email, people["rep0"].email
    routing = await _routing_rule(team, people, name="大单均衡", objectType="OPPORTUNITY", method="LOAD_BALANCED",
                                  memberIds=reps(people, 2), conditions=[{"field": "stage", "eq": "negotiation"}])
    ok(await team(CREATE_WORKFLOW_RULE, {"input": {
        "name": "大单换人", "objectType": "Opportunity", "trigger": "UPDATED", "fieldsChanged": ["amount"],
        "conditions": {"field": "amount", "op": "gte", "value": "1000000"},
        "actions": [{"type": "ASSIGN", "to": "ASSIGNMENT_RULE", "assignmentRuleId": routing["id"]}]}}, as_=admin),
       "createWorkflowRule")
    customer = ok(await team(CREATE_CUSTOMER, {"input": {"name": "中石化"}}, as_=rep), "createCustomer")["customer"]
    deals = [ok(await team(CREATE_DEAL, {"input": {"customerId": customer["id"], "name": name, "amount": "500000"}},
                           as_=rep), "createOpportunity")["opportunity"] for name in ("炼化项目", "二期")]
    assert [d["owner"] for d in deals] == [{"name": "张伟"}] * 2

    # when the rep raises the first to two million
    raised = ok(await team(UPDATE_DEAL, {"input": {"id": deals[0]["id"], "version": deals[0]["version"],
                                                   "amount": "2000000"}}, as_=rep), "updateOpportunity")

    # then 李娜, with the lighter load, owns it, and it says why
    assert raised["opportunity"] == {"owner": {"name": "李娜"}, "assignment": {
        "rule": "大单均衡", "method": "LOAD_BALANCED",
        "reason": "workflow rule 大单换人: load balanced: 李娜 has the lightest load (0 of 10 open opportunities)"}}


async def test_a_rule_naming_an_assignment_rule_it_cannot_use_is_refused_and_nothing_is_saved(
        db: Any, gql: GraphQLClient) -> None:
    # given an org's lead and opportunity routing rules, and another org's lead rule
    team, people = await sales_org(db, gql)
    leads = await _routing_rule(team, people)
    deals = await _routing_rule(team, people, name="商机", objectType="OPPORTUNITY", conditions=[])
    other, strangers = await sales_org(db, gql)
    theirs = await _routing_rule(other, strangers)
    admin = people["admin"].email

    async def create(object_type: str, **assign: Any) -> dict[str, Any]:
        return await team(CREATE_WORKFLOW_RULE, {"input": {
            "name": "坏规则", "objectType": object_type, "trigger": "CREATED",
            "actions": [{"type": "ASSIGN", "to": "ASSIGNMENT_RULE", **assign}]}}, as_=admin)

    # then a lead rule naming the opportunity rule, no rule, or a customer rule naming one are user errors
    assert user_errors(await create("Lead", assignmentRuleId=deals["id"]), "createWorkflowRule") == [
        (["actions", "0", "assignmentRuleId"], "INVALID_ACTION")]
    assert user_errors(await create("Lead"), "createWorkflowRule") == [
        (["actions", "0", "assignmentRuleId"], "INVALID_ACTION")]
    assert user_errors(await create("Customer", assignmentRuleId=leads["id"]), "createWorkflowRule") == [
        (["actions", "0", "to"], "INVALID_ACTION")]
    # and another org's rule, or an id of another type, is not found
    assert error_code(await create("Lead", assignmentRuleId=theirs["id"])) == "NOT_FOUND"
    assert error_code(await create("Lead", assignmentRuleId=gid(people["rep0"]))) == "NOT_FOUND"
    # and nothing was saved (the org's only rules are the built-in ones)
    names = [r["name"] for r in (await team(WORKFLOW_RULES, as_=admin))["data"]["workflowRules"]]
    assert "坏规则" not in names
