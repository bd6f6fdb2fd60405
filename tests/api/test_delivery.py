"""Delivery end to end over HTTP and the websocket, as the demo users would: a deal moved to won
becomes a scheduled project with a Gantt-ready answer; logging time moves the budget and earned-value
figures; a slipping task reaches the project manager live; bad input is refused and changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tandem.schema.node import to_global_id
from tests.factories.api.answers import ok
from tests.factories.realtime import connect, subscribe_live

CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { id } userErrors { code } } }"""
CREATE_OPPORTUNITY = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) {
  opportunity { id version } userErrors { code } } }"""
MOVE = """mutation($input: MoveOpportunityStageInput!) { moveOpportunityStage(input: $input) {
  opportunity { id version stage project { id number status manager { email } } } userErrors { code } } }"""
GANTT = """query($id: ID!) { gantt(projectId: $id) { start finish plannedFinish criticalPath
  bars { taskId name wbs isMilestone start finish plannedStart plannedFinish forecastFinish progress critical
         slackDays dependencies { predecessorId kind lagDays } } } }"""
PROJECT = """query($id: ID!) { project(id: $id) { number status percentComplete budget
  tasks { id name version assignee { email } }
  costs { laborHours laborCost actualCost earnedValue plannedValue cpi spi } } }"""
UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id version status percentComplete durationDays forecastFinish atRisk } userErrors { field code } } }"""
LOG_TIME = """mutation($input: LogTimeInput!) { logTime(input: $input) {
  timeEntry { hours cost user { email } } userErrors { field code } } }"""
ADD_DEPENDENCY = """mutation($input: TaskDependencyInput!) { addTaskDependency(input: $input) {
  dependency { kind } userErrors { field code } } }"""
NOTIFICATIONS = """subscription { myNotifications { kind summary recordType data } }"""


async def _won_project(gql, name: str) -> dict[str, Any]:
    rep = "rep1@demo.test"
    customer = ok(await gql(CREATE_CUSTOMER, {"input": {"name": f"交付客户 {uuid.uuid4().hex[:6]}"}}, as_=rep),
                   "createCustomer")["customer"]
    opp = ok(await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": name,
                                                       "amount": "500000.00"}}, as_=rep),
              "createOpportunity")["opportunity"]
    for stage in ("proposal", "negotiation", "won"):
        opp = ok(await gql(MOVE, {"input": {"id": opp["id"], "version": opp["version"], "stage": stage}}, as_=rep),
                  "moveOpportunityStage")["opportunity"]
    return opp


async def test_a_won_deal_becomes_a_scheduled_project_that_logging_and_slipping_move(gql, app, users):
    # when rep1 wins an ERP deal
    opp = await _won_project(gql, f"ERP 三期 {uuid.uuid4().hex[:4]}")
    project = opp["project"]
    # then a project exists at once, run by the demo project manager
    assert project["status"] == "PLANNING" and project["manager"]["email"] == "pm@demo.test"
    # and its Gantt chart comes from the ERP template, with a critical path
    gantt = (await gql(GANTT, {"id": project["id"]}, as_="pm@demo.test"))["data"]["gantt"]
    names = [b["name"] for b in gantt["bars"]]
    assert names == ["项目启动会", "需求调研", "方案设计", "开发与配置", "数据迁移", "用户验收测试", "上线"]
    bars = {b["name"]: b for b in gantt["bars"]}
    assert [b["wbs"] for b in gantt["bars"]] == ["1", "2", "3", "4", "5", "6", "7"]
    assert bars["上线"]["isMilestone"] and bars["上线"]["finish"] == gantt["finish"] == gantt["plannedFinish"]
    assert [b["name"] for b in gantt["bars"] if b["critical"]] == ["项目启动会", "需求调研", "方案设计", "开发与配置",
                                                                   "用户验收测试", "上线"]
    assert bars["数据迁移"]["slackDays"] == 10 and not bars["数据迁移"]["critical"]
    assert bars["用户验收测试"]["dependencies"] == [
        {"predecessorId": bars["开发与配置"]["taskId"], "kind": "FINISH_TO_START", "lagDays": 0},
        {"predecessorId": bars["数据迁移"]["taskId"], "kind": "FINISH_TO_START", "lagDays": 0}]
    assert len(gantt["criticalPath"]) == 6

    # the PM assigns the first task to the service engineer (cost rate 300/h in the demo), who logs time
    detail = (await gql(PROJECT, {"id": project["id"]}, as_="pm@demo.test"))["data"]["project"]
    kickoff = detail["tasks"][0]
    engineer = to_global_id("User", users["service@demo.test"].id)
    ok(await gql(UPDATE_TASK, {"input": {"id": kickoff["id"], "version": kickoff["version"],
                                          "assigneeId": engineer}}, as_="pm@demo.test"), "updateTask")
    today = datetime.now(UTC).date()
    logged = await gql(LOG_TIME, {"input": {"taskId": kickoff["id"], "hours": "6.5", "date": str(today),
                                            "note": "准备启动会"}}, as_="service@demo.test")
    assert logged["data"]["logTime"] == {"timeEntry": {"hours": "6.5", "cost": None,  # cost is finance's only
                                                       "user": {"email": "service@demo.test"}}, "userErrors": []}
    assert [e["extensions"]["code"] for e in logged["errors"]] == ["FORBIDDEN_FIELD"]
    too_much = await gql(LOG_TIME, {"input": {"taskId": kickoff["id"], "hours": "25"}}, as_="service@demo.test")
    assert too_much["data"]["logTime"]["userErrors"] == [{"field": ["hours"], "code": "INVALID_HOURS"}]
    costs = (await gql(PROJECT, {"id": project["id"]}, as_="finance@demo.test"))["data"]["project"]["costs"]
    assert (costs["laborHours"], costs["laborCost"], costs["actualCost"]) == ("6.5", "1950.00", "1950.00")
    # the rep sees delivery status, not costs
    as_rep = await gql(PROJECT, {"id": project["id"]}, as_="rep1@demo.test")
    assert as_rep["data"]["project"]["costs"] is None and as_rep["data"]["project"]["status"] == "ACTIVE"
    assert [e["extensions"]["code"] for e in as_rep["errors"]] == ["FORBIDDEN_FIELD"]

    # a dependency cycle is refused and changes nothing
    tasks = {t["name"]: t for t in detail["tasks"]}
    cycle = await gql(ADD_DEPENDENCY, {"input": {"predecessorId": tasks["上线"]["id"],
                                                 "successorId": tasks["需求调研"]["id"]}}, as_="pm@demo.test")
    assert cycle["data"]["addTaskDependency"]["userErrors"] == [{"field": ["successorId"],
                                                                 "code": "DEPENDENCY_CYCLE"}]
    again = (await gql(GANTT, {"id": project["id"]}, as_="pm@demo.test"))["data"]["gantt"]
    assert again["bars"] == gantt["bars"]

    # a slipping task reaches the project manager live
    async with connect(app, gql.token("pm@demo.test")) as socket:
        await subscribe_live(app, socket, "n", NOTIFICATIONS, {})
        design = tasks["方案设计"]
        slipped = ok(await gql(UPDATE_TASK, {"input": {"id": design["id"], "version": design["version"],
                                                        "durationDays": 25}}, as_="pm@demo.test"), "updateTask")
        assert slipped["task"]["atRisk"] is True  # forecast past its baseline finish
        kinds = []
        for _ in range(200):  # live from the subscription on: what this change caused, and any reminder
            message = await socket.message("n")
            assert message["type"] == "next", message
            entry = message["payload"]["data"]["myNotifications"]
            kinds.append((entry["kind"], entry["recordType"]))
            if {("risk", "Task"), ("risk", "Project")} <= set(kinds):
                break
    assert {("risk", "Task"), ("risk", "Project")} <= set(kinds), kinds
    late = (await gql(GANTT, {"id": project["id"]}, as_="pm@demo.test"))["data"]["gantt"]
    assert late["finish"] > late["plannedFinish"]
    assert datetime.fromisoformat(late["finish"]) - datetime.fromisoformat(gantt["finish"]) >= timedelta(days=20)
