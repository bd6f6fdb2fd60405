"""Who sees what of delivery, over HTTP as the demo users: the sales rep follows the delivery of
their deals but not its costs and plans nothing; a peer rep and marketing see nothing; the project
manager reads the customer and the deal the project came from; cost rates and per-entry labor cost
are finance's; records of a project (and time, by its own rule) follow it through `node(id)`; and
another org's ids are NOT_FOUND in every delivery query and mutation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tandem.schema.node import to_global_id
from tests.factories.api.answers import ok

CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { id } userErrors { code } } }"""
CREATE_OPPORTUNITY = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) {
  opportunity { id version } userErrors { code } } }"""
MOVE = """mutation($input: MoveOpportunityStageInput!) { moveOpportunityStage(input: $input) {
  opportunity { id version project { id version tasks { id version } } } userErrors { code } } }"""
UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id version } userErrors { field code } } }"""
LOG_TIME = """mutation($input: LogTimeInput!) { logTime(input: $input) {
  timeEntry { id } userErrors { field code } } }"""
SUBMIT = """mutation($input: SubmitTimesheetInput!) { submitTimesheet(input: $input) {
  timesheet { id status } userErrors { field code } } }"""
APPROVE_TIMESHEET = """mutation($input: DecideTimesheetInput!) { approveTimesheet(input: $input) {
  timesheet { id } userErrors { field code } } }"""
REJECT_TIMESHEET = """mutation($input: DecideTimesheetInput!) { rejectTimesheet(input: $input) {
  timesheet { id } userErrors { field code } } }"""
REPORT = """mutation($input: ReportProgressInput!) { reportProgress(input: $input) {
  report { id } userErrors { field code } } }"""
EXPENSE = """mutation($input: AddExpenseInput!) { addExpense(input: $input) {
  expense { id } userErrors { field code } } }"""
REQUEST_CHANGE = """mutation($input: RequestChangeInput!) { requestChange(input: $input) {
  changeRequest { id } userErrors { field code } } }"""
APPROVE_CHANGE = """mutation($input: DecideChangeInput!) { approveChange(input: $input) {
  changeRequest { id } userErrors { field code } } }"""
REJECT_CHANGE = """mutation($input: DecideChangeInput!) { rejectChange(input: $input) {
  changeRequest { id } userErrors { field code } } }"""
CREATE_TASK = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id } userErrors { field code } } }"""
UPDATE_PROJECT = """mutation($input: UpdateProjectInput!) { updateProject(input: $input) {
  project { id } userErrors { field code } } }"""
ADD_DEPENDENCY = """mutation($input: TaskDependencyInput!) { addTaskDependency(input: $input) {
  dependency { kind } userErrors { field code } } }"""
REMOVE_DEPENDENCY = """mutation($input: RemoveTaskDependencyInput!) { removeTaskDependency(input: $input) {
  successor { id } userErrors { field code } } }"""
SET_COST_RATE = """mutation($input: SetCostRateInput!) { setCostRate(input: $input) {
  user { id } userErrors { field code } } }"""

PROJECT = """query($id: ID!) { project(id: $id) { id name status manager { email } costs { actualCost } } }"""
PROJECT_STATE = """query($id: ID!) { project(id: $id) { version budget deadline tasks { id version }
  expenses { id } progressReports { id } changeRequests { id status } } }"""
PROJECT_ORIGIN = """query($id: ID!) { project(id: $id) { customer { id name } opportunity { id name stage } } }"""
PROJECTS = """query($search: String) { projects(first: 100, filter: {search: $search}) { edges { node { id } } } }"""
PROJECTS_OF = """query($manager: ID) { projects(first: 100, filter: {managerId: $manager}) {
  edges { node { id } } } }"""
GANTT = """query($id: ID!) { gantt(projectId: $id) { projectId bars { taskId } } }"""
TASK = """query($id: ID!) { task(id: $id) { id name } }"""
OPPORTUNITY_PROJECT = """query($id: ID!) { node(id: $id) { ... on Opportunity { project { id status } } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename id } }"""
COST_RATE = """query($id: ID!) { node(id: $id) { ... on User { email costRate } } }"""
ENTRY_COST = """query($id: ID!) { node(id: $id) { ... on TimeEntry { hours cost } } }"""
TIMESHEETS = """query($project: ID) { timesheets(first: 10, filter: {projectId: $project}) {
  edges { node { id hours entries { hours cost } } } } }"""
MY_ENTRIES = """query($since: Date, $until: Date) { myTimeEntries(since: $since, until: $until) { id hours cost } }"""
CUSTOMERS = """query($search: String) { customers(first: 10, filter: {search: $search}) { edges { node { id } } } }"""
TEMPLATES = """query { projectTemplates { id name } }"""
PROJECT_COSTS = """query($id: ID!) { project(id: $id) { costs { laborHours expenses } } }"""

DENIED = "FORBIDDEN_FIELD"
DEMO_VIEWERS_OF_THE_PROJECT = ["rep1@demo.test", "pm@demo.test", "service@demo.test", "finance@demo.test",
                               "manager@demo.test", "admin@demo.test"]
STRANGERS = ["rep2@demo.test", "marketing@demo.test", "rep@acme.test", "admin@acme.test"]


def _codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def _not_found(result: dict[str, Any], name: str) -> None:
    """NOT_FOUND and no value: the field is null, or (when it may not be) the whole answer is."""
    assert _codes(result) == ["NOT_FOUND"], result
    assert result["data"] is None or result["data"][name] is None, result


@pytest.fixture(scope="module")
async def delivered(gql, users) -> dict[str, str]:
    """rep1 wins a deal of their own; pm puts service on its kick-off, who logs 4 h (at 300/h) and
    submits the week; pm reports progress and records an expense; rep1 asks for a change."""
    tag = uuid.uuid4().hex[:8]
    rep, pm, service = "rep1@demo.test", "pm@demo.test", "service@demo.test"
    customer = ok(await gql(CREATE_CUSTOMER, {"input": {"name": f"权限客户 {tag}"}}, as_=rep),
                   "createCustomer")["customer"]
    opp = ok(await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": f"权限 ERP {tag}",
                                                       "amount": "200000.00"}}, as_=rep),
              "createOpportunity")["opportunity"]
    for stage in ("proposal", "negotiation", "won"):
        opp = ok(await gql(MOVE, {"input": {"id": opp["id"], "version": opp["version"], "stage": stage}}, as_=rep),
                  "moveOpportunityStage")["opportunity"]
    project = opp["project"]
    kickoff, second = project["tasks"][0], project["tasks"][1]
    engineer = to_global_id("User", users[service].id)
    ok(await gql(UPDATE_TASK, {"input": {"id": kickoff["id"], "version": kickoff["version"],
                                          "assigneeId": engineer}}, as_=pm), "updateTask")
    entry = ok(await gql(LOG_TIME, {"input": {"taskId": kickoff["id"], "hours": "4"}}, as_=service),
                "logTime")["timeEntry"]
    today = datetime.now(UTC).date().isoformat()
    sheet = ok(await gql(SUBMIT, {"input": {"projectId": project["id"], "weekStart": today}}, as_=service),
                "submitTimesheet")["timesheet"]
    report = ok(await gql(REPORT, {"input": {"projectId": project["id"], "status": "启动会已开", "health": "GREEN"}},
                           as_=pm), "reportProgress")["report"]
    expense = ok(await gql(EXPENSE, {"input": {"projectId": project["id"], "amount": "1000.00",
                                                "description": "差旅"}}, as_=pm), "addExpense")["expense"]
    change = ok(await gql(REQUEST_CHANGE, {"input": {"projectId": project["id"], "title": "加一个报表",
                                                      "reason": "客户要求", "budgetDelta": "5000"}}, as_=rep),
                 "requestChange")["changeRequest"]
    return {"tag": tag, "Project": project["id"], "Task": kickoff["id"], "Task2": second["id"],
            "Customer": customer["id"], "Opportunity": opp["id"], "TimeEntry": entry["id"], "Timesheet": sheet["id"],
            "ProgressReport": report["id"], "Expense": expense["id"], "ChangeRequest": change["id"],
            "service": engineer, "pm": to_global_id("User", users[pm].id)}


async def test_a_rep_follows_the_delivery_of_their_deal_but_not_its_costs(gql, delivered):
    # when rep1 reads the project of their deal
    result = await gql(PROJECT, {"id": delivered["Project"]}, as_="rep1@demo.test")
    # then they see how delivery stands, but not what it costs
    assert result["data"]["project"] == {"id": delivered["Project"], "name": f"权限 ERP {delivered['tag']}",
                                         "status": "ACTIVE", "manager": {"email": "pm@demo.test"}, "costs": None}
    assert _codes(result) == [DENIED]
    # and find it in their list, from the deal, and on its Gantt chart
    listed = await gql(PROJECTS, {"search": delivered["tag"]}, as_="rep1@demo.test")
    assert listed["data"]["projects"]["edges"] == [{"node": {"id": delivered["Project"]}}]
    from_deal = await gql(OPPORTUNITY_PROJECT, {"id": delivered["Opportunity"]}, as_="rep1@demo.test")
    assert from_deal["data"]["node"]["project"] == {"id": delivered["Project"], "status": "ACTIVE"}
    gantt = await gql(GANTT, {"id": delivered["Project"]}, as_="rep1@demo.test")
    assert len(gantt["data"]["gantt"]["bars"]) == 7


async def test_a_rep_cannot_plan_the_project(gql, delivered):
    # when rep1 adds a task to their deal's project
    result = await gql(CREATE_TASK, {"input": {"projectId": delivered["Project"], "name": "销售加的任务"}},
                       as_="rep1@demo.test")
    # then it is forbidden and nothing is added
    assert (result["data"], _codes(result)) == (None, ["FORBIDDEN"])
    state = await gql(PROJECT_STATE, {"id": delivered["Project"]}, as_="pm@demo.test")
    assert len(state["data"]["project"]["tasks"]) == 7
    # and renaming one is the project manager's: a sales rep may not write a task's name
    task = state["data"]["project"]["tasks"][1]
    renamed = await gql(UPDATE_TASK, {"input": {"id": task["id"], "version": task["version"], "name": "改名"}},
                        as_="rep1@demo.test")
    assert (renamed["data"], _codes(renamed)) == (None, ["FORBIDDEN"])
    after = await gql(PROJECT_STATE, {"id": delivered["Project"]}, as_="pm@demo.test")
    assert after["data"]["project"]["tasks"][1] == task


async def test_a_rep_cannot_see_the_project_of_a_peers_deal(gql, delivered):
    for query, variables, name in ((PROJECT, {"id": delivered["Project"]}, "project"),
                                   (GANTT, {"id": delivered["Project"]}, "gantt"),
                                   (TASK, {"id": delivered["Task"]}, "task")):
        _not_found(await gql(query, variables, as_="rep2@demo.test"), name)
    listed = await gql(PROJECTS, {"search": delivered["tag"]}, as_="rep2@demo.test")
    assert listed["data"]["projects"]["edges"] == []


async def test_the_project_manager_reads_the_customer_and_deal_the_project_came_from(gql, delivered):
    # when the project manager opens the project
    result = await gql(PROJECT_ORIGIN, {"id": delivered["Project"]}, as_="pm@demo.test")
    # then the customer and the deal are there, shared when the deal was won
    assert "errors" not in result
    assert result["data"]["project"] == {
        "customer": {"id": delivered["Customer"], "name": f"权限客户 {delivered['tag']}"},
        "opportunity": {"id": delivered["Opportunity"], "name": f"权限 ERP {delivered['tag']}", "stage": "won"}}
    assert (await gql(NODE, {"id": delivered["Customer"]}, as_="pm@demo.test"))["data"]["node"] == {
        "__typename": "Customer", "id": delivered["Customer"]}
    # but a customer without a project of theirs stays out of reach
    huawei = (await gql(CUSTOMERS, {"search": "华为"}, as_="rep1@demo.test"))["data"]["customers"]["edges"]
    _not_found(await gql(NODE, {"id": huawei[0]["node"]["id"]}, as_="pm@demo.test"), "node")


@pytest.mark.parametrize(("viewer", "visible"), [
    ("finance@demo.test", True), ("admin@demo.test", True), ("pm@demo.test", True), ("manager@demo.test", True),
    ("rep1@demo.test", False), ("service@demo.test", False),
])
async def test_project_costs_are_hidden_from_reps_and_service(gql, delivered, viewer, visible):
    result = await gql(PROJECT_COSTS, {"id": delivered["Project"]}, as_=viewer)
    costs = {"laborHours": "4", "expenses": "1000.00"} if visible else None
    assert result["data"]["project"] == {"costs": costs}
    assert _codes(result) == ([] if visible else [DENIED])


@pytest.mark.parametrize(("viewer", "rate"), [
    ("finance@demo.test", "300.00"), ("admin@demo.test", "300.00"), ("pm@demo.test", None),
    ("rep1@demo.test", None), ("manager@demo.test", None), ("service@demo.test", None), ("marketing@demo.test", None),
])
async def test_cost_rates_are_finance_only(gql, delivered, viewer, rate):
    result = await gql(COST_RATE, {"id": delivered["service"]}, as_=viewer)
    assert result["data"]["node"] == {"email": "service@demo.test", "costRate": rate}
    assert _codes(result) == ([] if rate else [DENIED])


async def test_only_finance_sets_cost_rates(gql, delivered):
    for viewer in ("pm@demo.test", "manager@demo.test", "service@demo.test"):
        result = await gql(SET_COST_RATE, {"input": {"userId": delivered["service"], "costRate": "1"}}, as_=viewer)
        assert (result["data"], _codes(result)) == (None, ["FORBIDDEN"])
    rate = await gql(COST_RATE, {"id": delivered["service"]}, as_="finance@demo.test")
    assert rate["data"]["node"]["costRate"] == "300.00"


@pytest.mark.parametrize(("viewer", "cost"), [
    ("finance@demo.test", "1200.00"), ("admin@demo.test", "1200.00"), ("pm@demo.test", None),
    ("service@demo.test", None),
])
async def test_the_labor_cost_of_a_time_entry_is_finance_only(gql, delivered, viewer, cost):
    # the entry itself
    entry = await gql(ENTRY_COST, {"id": delivered["TimeEntry"]}, as_=viewer)
    assert entry["data"]["node"] == {"hours": "4", "cost": cost}
    assert _codes(entry) == ([] if cost else [DENIED])
    # and within its timesheet
    sheets = await gql(TIMESHEETS, {"project": delivered["Project"]}, as_=viewer)
    assert sheets["data"]["timesheets"]["edges"] == [{"node": {"id": delivered["Timesheet"], "hours": "4",
                                                               "entries": [{"hours": "4", "cost": cost}]}}]
    assert _codes(sheets) == ([] if cost else [DENIED])


async def test_the_engineer_reads_their_own_hours_but_not_their_cost(gql, delivered):
    today = datetime.now(UTC).date().isoformat()
    result = await gql(MY_ENTRIES, {"since": today, "until": today}, as_="service@demo.test")
    mine = [e for e in result["data"]["myTimeEntries"] if e["id"] == delivered["TimeEntry"]]
    assert mine == [{"id": delivered["TimeEntry"], "hours": "4", "cost": None}]
    assert _codes(result) == [DENIED]


async def test_marketing_sees_no_project(gql, delivered):
    listed = await gql(PROJECTS, {"search": delivered["tag"]}, as_="marketing@demo.test")
    assert listed["data"]["projects"]["edges"] == []
    everything = await gql(PROJECTS, {}, as_="marketing@demo.test")
    assert everything["data"]["projects"]["edges"] == []
    for query, variables, name in ((PROJECT, {"id": delivered["Project"]}, "project"),
                                   (GANTT, {"id": delivered["Project"]}, "gantt"),
                                   (TASK, {"id": delivered["Task"]}, "task")):
        _not_found(await gql(query, variables, as_="marketing@demo.test"), name)


PROJECT_RECORDS = ["Project", "Task", "ChangeRequest", "Expense", "ProgressReport"]


@pytest.mark.parametrize("viewer", DEMO_VIEWERS_OF_THE_PROJECT)
@pytest.mark.parametrize("record", PROJECT_RECORDS)
async def test_a_project_record_is_a_node_to_whoever_sees_the_project(gql, delivered, record, viewer):
    result = await gql(NODE, {"id": delivered[record]}, as_=viewer)
    assert result == {"data": {"node": {"__typename": record, "id": delivered[record]}}}


@pytest.mark.parametrize("viewer", STRANGERS)
@pytest.mark.parametrize("record", PROJECT_RECORDS)
async def test_a_project_record_is_not_found_by_whoever_cannot_see_the_project(gql, delivered, record, viewer):
    _not_found(await gql(NODE, {"id": delivered[record]}, as_=viewer), "node")


@pytest.mark.parametrize(("viewer", "visible"), [
    ("service@demo.test", True), ("pm@demo.test", True), ("finance@demo.test", True), ("admin@demo.test", True),
    ("rep1@demo.test", False), ("manager@demo.test", False), *[(v, False) for v in STRANGERS],
])
@pytest.mark.parametrize("record", ["Timesheet", "TimeEntry"])
async def test_time_is_a_node_to_its_owner_the_project_manager_and_finance(gql, delivered, record, viewer, visible):
    result = await gql(NODE, {"id": delivered[record]}, as_=viewer)
    if visible:
        assert result == {"data": {"node": {"__typename": record, "id": delivered[record]}}}
    else:
        _not_found(result, "node")


@pytest.mark.parametrize("viewer", ["rep@acme.test", "admin@acme.test"])
async def test_another_org_finds_no_demo_project_or_task(gql, delivered, viewer):
    for query, variables, name in ((PROJECT, {"id": delivered["Project"]}, "project"),
                                   (GANTT, {"id": delivered["Project"]}, "gantt"),
                                   (TASK, {"id": delivered["Task"]}, "task")):
        _not_found(await gql(query, variables, as_=viewer), name)
    templates = (await gql(TEMPLATES, as_="pm@demo.test"))["data"]["projectTemplates"]
    _not_found(await gql(NODE, {"id": templates[0]["id"]}, as_=viewer), "node")
    assert (await gql(TEMPLATES, as_=viewer))["data"]["projectTemplates"] == []
    managed = await gql(PROJECTS_OF, {"manager": delivered["pm"]}, as_=viewer)
    assert managed["data"]["projects"]["edges"] == []
    sheets = await gql(TIMESHEETS, {"project": delivered["Project"]}, as_=viewer)
    assert sheets["data"]["timesheets"]["edges"] == []


MUTATIONS = {
    "updateProject": (UPDATE_PROJECT, lambda d: {"id": d["Project"], "version": 1, "name": "偷改"}),
    "createTask": (CREATE_TASK, lambda d: {"projectId": d["Project"], "name": "偷加"}),
    "updateTask": (UPDATE_TASK, lambda d: {"id": d["Task"], "version": 1, "name": "偷改"}),
    "updateTask(progress)": (UPDATE_TASK, lambda d: {"id": d["Task"], "version": 1, "percentComplete": 50}),
    "addTaskDependency": (ADD_DEPENDENCY, lambda d: {"predecessorId": d["Task"], "successorId": d["Task2"]}),
    "removeTaskDependency": (REMOVE_DEPENDENCY, lambda d: {"predecessorId": d["Task"], "successorId": d["Task2"]}),
    "logTime": (LOG_TIME, lambda d: {"taskId": d["Task"], "hours": "1"}),
    "submitTimesheet": (SUBMIT, lambda d: {"projectId": d["Project"],
                                           "weekStart": datetime.now(UTC).date().isoformat()}),
    "approveTimesheet": (APPROVE_TIMESHEET, lambda d: {"timesheetId": d["Timesheet"]}),
    "rejectTimesheet": (REJECT_TIMESHEET, lambda d: {"timesheetId": d["Timesheet"], "comment": "不行"}),
    "reportProgress": (REPORT, lambda d: {"projectId": d["Project"], "status": "红", "health": "RED"}),
    "addExpense": (EXPENSE, lambda d: {"projectId": d["Project"], "amount": "1.00", "description": "偷记"}),
    "requestChange": (REQUEST_CHANGE, lambda d: {"projectId": d["Project"], "title": "偷改", "reason": "无",
                                                 "budgetDelta": "1"}),
    "approveChange": (APPROVE_CHANGE, lambda d: {"id": d["ChangeRequest"]}),
    "rejectChange": (REJECT_CHANGE, lambda d: {"id": d["ChangeRequest"], "comment": "不行"}),
    "setCostRate": (SET_COST_RATE, lambda d: {"userId": d["service"], "costRate": "1"}),
    "createOpportunity": (CREATE_OPPORTUNITY, lambda d: {"customerId": d["Customer"], "name": "偷单",
                                                         "amount": "1.00", "projectManagerId": d["pm"]}),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_another_org_gets_not_found_for_demo_ids_in_every_delivery_mutation(gql, delivered, mutation):
    # given how the demo project stands
    before = await gql(PROJECT_STATE, {"id": delivered["Project"]}, as_="admin@demo.test")
    document, variables = MUTATIONS[mutation]
    # when Acme's admin (who may do anything in Acme) names Demo's records
    result = await gql(document, {"input": variables(delivered)}, as_="admin@acme.test")
    # then nothing is found, and nothing changed
    assert (result["data"], _codes(result)) == (None, ["NOT_FOUND"])
    assert await gql(PROJECT_STATE, {"id": delivered["Project"]}, as_="admin@demo.test") == before
    rate = await gql(COST_RATE, {"id": delivered["service"]}, as_="finance@demo.test")
    assert rate["data"]["node"]["costRate"] == "300.00"


@pytest.mark.parametrize("mutation", ["updateTask(progress)", "addTaskDependency", "logTime", "submitTimesheet",
                                      "approveTimesheet", "rejectTimesheet", "requestChange", "approveChange",
                                      "rejectChange"])
async def test_a_peer_rep_gets_not_found_for_the_project_of_another_reps_deal(gql, delivered, mutation):
    before = await gql(PROJECT_STATE, {"id": delivered["Project"]}, as_="admin@demo.test")
    document, variables = MUTATIONS[mutation]
    result = await gql(document, {"input": variables(delivered)}, as_="rep2@demo.test")
    assert (result["data"], _codes(result)) == (None, ["NOT_FOUND"])
    assert await gql(PROJECT_STATE, {"id": delivered["Project"]}, as_="admin@demo.test") == before
