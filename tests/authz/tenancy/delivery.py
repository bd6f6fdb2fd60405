"""Tenancy cases of project delivery: projects, tasks (and their dependencies), timesheets, time
entries, templates, change requests, expenses, progress reports and users. Acme's own project comes
from a deal its admin wins (Acme has no project manager, so the admin runs it); its tasks, time and
template are made through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.crm.customer import Customer
from tandem.domain.delivery.budget import Expense
from tandem.domain.delivery.change_request import ChangeRequest
from tandem.domain.delivery.progress import ProgressReport
from tandem.domain.delivery.project import Project, ProjectTemplate
from tandem.domain.delivery.task import Task, TaskDependency
from tandem.domain.delivery.timesheet import TimeEntry, Timesheet
from tandem.domain.pipeline.opportunity import Opportunity
from tandem.schema.node import from_global_id, to_global_id

from . import ACME, ACME_REP, USER_ERRORS, Case, Records, created, first_row, input_of
from .crm import SHARE_RECORD

DEMO_PM = "pm@demo.test"
DEMO_ENGINEER = "service@demo.test"

# --- documents -------------------------------------------------------------------------------

MY_TIME_ENTRIES = """
query ($since: Date, $until: Date) {
  myTimeEntries(since: $since, until: $until) { id taskId projectId user { id } }
}"""
PROJECT_TEMPLATES = "{ projectTemplates { id name } }"

PROJECT = """
query ($id: ID!) {
  project(id: $id) {
    id name manager { id } salesOwner { id } customer { id } opportunity { id } contract { id }
    tasks { id parentId assignee { id } project { id } }
    members { id }
    progressReports { id reportedBy { id } }
    expenses { id }
    changeRequests { id requestedBy { id } }
  }
}"""

GANTT = """
query ($projectId: ID!) {
  gantt(projectId: $projectId) {
    projectId criticalPath
    bars { taskId parentId assigneeId dependencies { predecessorId successorId } }
  }
}"""

PROJECTS = """
query ($filter: ProjectFilter) {
  projects(first: 100, filter: $filter) {
    totalCount
    edges { node {
      id name manager { id } salesOwner { id } customer { id } opportunity { id }
      tasks { id assignee { id } } members { id } changeRequests { id requestedBy { id } }
    } }
  }
}"""

TIMESHEETS = """
query ($filter: TimesheetFilter) {
  timesheets(first: 100, filter: $filter) {
    totalCount
    edges { node { id projectId user { id } decidedBy { id } entries { id taskId projectId user { id } } } }
  }
}"""

OPPORTUNITY_FIELDS = "opportunity { id version stage project { id } projectManager { id } }"
CREATE_OPPORTUNITY = f"""
mutation ($input: CreateOpportunityInput!) {{
  createOpportunity(input: $input) {{ {OPPORTUNITY_FIELDS} {USER_ERRORS} }}
}}"""
UPDATE_OPPORTUNITY = f"""
mutation ($input: UpdateOpportunityInput!) {{
  updateOpportunity(input: $input) {{ {OPPORTUNITY_FIELDS} {USER_ERRORS} }}
}}"""
MOVE_STAGE = f"""
mutation ($input: MoveOpportunityStageInput!) {{
  moveOpportunityStage(input: $input) {{ {OPPORTUNITY_FIELDS} {USER_ERRORS} }}
}}"""
CREATE_PROJECT_TEMPLATE = f"""
mutation ($input: CreateProjectTemplateInput!) {{
  createProjectTemplate(input: $input) {{ template {{ id }} {USER_ERRORS} }}
}}"""
UPDATE_PROJECT = f"""
mutation ($input: UpdateProjectInput!) {{
  updateProject(input: $input) {{ project {{ id manager {{ id }} }} {USER_ERRORS} }}
}}"""
CREATE_TASK = f"""
mutation ($input: CreateTaskInput!) {{ createTask(input: $input) {{ task {{ id version }} {USER_ERRORS} }} }}"""
UPDATE_TASK = f"""
mutation ($input: UpdateTaskInput!) {{
  updateTask(input: $input) {{ task {{ id assignee {{ id }} }} {USER_ERRORS} }}
}}"""
ADD_TASK_DEPENDENCY = f"""
mutation ($input: TaskDependencyInput!) {{
  addTaskDependency(input: $input) {{ dependency {{ predecessorId successorId }} successor {{ id }} {USER_ERRORS} }}
}}"""
REMOVE_TASK_DEPENDENCY = f"""
mutation ($input: RemoveTaskDependencyInput!) {{
  removeTaskDependency(input: $input) {{ successor {{ id }} {USER_ERRORS} }}
}}"""
LOG_TIME = f"""
mutation ($input: LogTimeInput!) {{
  logTime(input: $input) {{ timeEntry {{ id taskId projectId }} {USER_ERRORS} }}
}}"""
SUBMIT_TIMESHEET = f"""
mutation ($input: SubmitTimesheetInput!) {{
  submitTimesheet(input: $input) {{ timesheet {{ id status }} {USER_ERRORS} }}
}}"""
APPROVE_TIMESHEET = f"""
mutation ($input: DecideTimesheetInput!) {{
  approveTimesheet(input: $input) {{ timesheet {{ id status }} {USER_ERRORS} }}
}}"""
REJECT_TIMESHEET = f"""
mutation ($input: DecideTimesheetInput!) {{
  rejectTimesheet(input: $input) {{ timesheet {{ id status }} {USER_ERRORS} }}
}}"""
REPORT_PROGRESS = f"""
mutation ($input: ReportProgressInput!) {{
  reportProgress(input: $input) {{ report {{ id }} project {{ id }} {USER_ERRORS} }}
}}"""
ADD_EXPENSE = f"""
mutation ($input: AddExpenseInput!) {{
  addExpense(input: $input) {{ expense {{ id }} project {{ id }} {USER_ERRORS} }}
}}"""
REQUEST_CHANGE = f"""
mutation ($input: RequestChangeInput!) {{
  requestChange(input: $input) {{ changeRequest {{ id status }} project {{ id }} {USER_ERRORS} }}
}}"""
APPROVE_CHANGE = f"""
mutation ($input: DecideChangeInput!) {{
  approveChange(input: $input) {{ changeRequest {{ id status }} project {{ id }} {USER_ERRORS} }}
}}"""
REJECT_CHANGE = f"""
mutation ($input: DecideChangeInput!) {{
  rejectChange(input: $input) {{ changeRequest {{ id status }} project {{ id }} {USER_ERRORS} }}
}}"""
SET_COST_RATE = f"""
mutation ($input: SetCostRateInput!) {{ setCostRate(input: $input) {{ user {{ id }} {USER_ERRORS} }} }}"""


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _template_input(name: str) -> dict[str, Any]:
    """A non-default template whose keyword no deal has: it never shapes another test's project."""
    return {"name": name, "keywords": [f"tenancy-probe-{uuid.uuid4().hex[:8]}"], "isDefault": False,
            "tasks": [{"key": "a", "name": "Probe", "durationDays": 2, "estimateHours": "8"},
                      {"key": "b", "name": "Probe done", "durationDays": 0, "dependsOn": ["a"]}]}


TODAY = date.today()
LAST_WEEK = TODAY - timedelta(days=7)


# --- the records ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def acme_delivery(gql, db, users) -> dict[str, str]:
    """Global ids of Acme's project (a deal its admin won: Acme has no project manager, so the admin
    runs it), two of its tasks, a time entry logged today, a week submitted last week, and a template."""
    async with db.read() as session:
        customer = await first_row(session, Customer, users[ACME].org_id, Customer.name == "Acme Secret Customer")
    customer_id = to_global_id("Customer", customer.id)
    opportunity = (await created(gql, CREATE_OPPORTUNITY, "createOpportunity", ACME, customerId=customer_id,
                                 name=_unique("Acme deal"), amount="10000"))["opportunity"]
    for stage in ("proposal", "negotiation", "won"):
        opportunity = (await created(gql, MOVE_STAGE, "moveOpportunityStage", ACME, id=opportunity["id"],
                                     version=opportunity["version"], stage=stage))["opportunity"]
    project = opportunity["project"]["id"]
    admin = to_global_id("User", users[ACME].id)
    task, other = [(await created(gql, CREATE_TASK, "createTask", ACME, projectId=project, name=name,
                                  assigneeId=admin, estimateHours="16", durationDays=2))["task"]
                   for name in ("Acme probe task", "Acme probe follow-up")]
    entry = (await created(gql, LOG_TIME, "logTime", ACME, taskId=task["id"], hours="2", date=TODAY.isoformat(),
                           note="Acme probe"))["timeEntry"]
    await created(gql, LOG_TIME, "logTime", ACME, taskId=task["id"], hours="3", date=LAST_WEEK.isoformat())
    timesheet = (await created(gql, SUBMIT_TIMESHEET, "submitTimesheet", ACME, projectId=project,
                               weekStart=LAST_WEEK.isoformat()))["timesheet"]
    template = (await created(gql, CREATE_PROJECT_TEMPLATE, "createProjectTemplate", ACME,
                              **_template_input(_unique("Acme probe template"))))["template"]
    return {"Customer": customer_id, "WonOpportunity": opportunity["id"], "Project": project, "Task": task["id"],
            "OtherTask": other["id"], "TimeEntry": entry["id"], "Timesheet": timesheet["id"],
            "ProjectTemplate": template["id"]}


@pytest.fixture(scope="module")
async def demo_timesheet(gql, db, users) -> AsyncIterator[str]:
    """The seed logs time but submits no week: Demo's engineer submits theirs on the project the
    seed tells its story on; their project manager sends it back afterwards, unlocking the week."""
    async with db.read() as session:
        entry = await first_row(session, TimeEntry, users[DEMO_ENGINEER].org_id,
                                TimeEntry.user_id == users[DEMO_ENGINEER].id)
    assert entry is not None, "the Demo seed logs the engineer's time"
    sheet = (await created(gql, SUBMIT_TIMESHEET, "submitTimesheet", DEMO_ENGINEER,
                           projectId=to_global_id("Project", entry.project_id),
                           weekStart=entry.work_date.isoformat()))["timesheet"]
    yield sheet["id"]
    await created(gql, REJECT_TIMESHEET, "rejectTimesheet", DEMO_PM, timesheetId=sheet["id"],
                  comment="tenancy probe done")


def demo_rows(org_id: int) -> dict[str, tuple[Any, ...]]:
    """Which Demo row each key names: (model, conditions); the seed has them all."""
    pending = ChangeRequest.status == "pending_manager"
    story = (select(ChangeRequest.project_id).where(ChangeRequest.org_id == org_id, pending)
             .order_by(ChangeRequest.id).limit(1).scalar_subquery())
    return {
        "Project": (Project, Project.id == story),
        "Task": (Task, Task.project_id == story, Task.is_summary.is_(False)),
        "Dependency": (TaskDependency, TaskDependency.project_id == story),
        "TimeEntry": (TimeEntry,),
        "ProjectTemplate": (ProjectTemplate,),
        "ChangeRequest": (ChangeRequest, pending),
        "Expense": (Expense,),
        "ProgressReport": (ProgressReport,),
        "Customer": (Customer,),
    }


async def records(db, users, acme_delivery: dict[str, str], demo_timesheet: str) -> Records:
    demo_org_id = users["admin@demo.test"].org_id
    acme_org_id = users[ACME].org_id
    demo: dict[str, str] = {"Timesheet": demo_timesheet, "User": to_global_id("User", users["rep1@demo.test"].id),
                            "PM": to_global_id("User", users[DEMO_PM].id)}
    demo_version: dict[str, int] = {}
    async with db.read() as session:
        for key, (model, *where) in demo_rows(demo_org_id).items():
            row = await first_row(session, model, demo_org_id, *where)
            assert row is not None, f"the Demo seed has no {key}"
            if model is TaskDependency:
                demo["Predecessor"] = to_global_id("Task", row.predecessor_id)
                demo["Successor"] = to_global_id("Task", row.successor_id)
                continue
            demo[key] = to_global_id(model.__name__, row.id)
            if hasattr(row, "version"):
                demo_version[key] = row.version
        demo["ProjectName"] = (await session.get(Project, from_global_id(demo["Project"])[1])).name
        acme_opportunity = await first_row(session, Opportunity, acme_org_id, Opportunity.name == "Acme deal")
        acme_project = await session.get(Project, from_global_id(acme_delivery["Project"])[1],
                                         populate_existing=True)
        acme_task = await session.get(Task, from_global_id(acme_delivery["Task"])[1], populate_existing=True)
    return Records(demo=demo, demo_version=demo_version,
                   acme={**acme_delivery, "Opportunity": to_global_id("Opportunity", acme_opportunity.id),
                         "Admin": to_global_id("User", users[ACME].id),
                         "Rep": to_global_id("User", users[ACME_REP].id)},
                   acme_version={"Opportunity": acme_opportunity.version, "Project": acme_project.version,
                                 "Task": acme_task.version})


# --- cases ------------------------------------------------------------------------------------

NOT_FOUND_CASES = [
    # lookups by a Demo record
    Case("gantt(projectId)", GANTT, "gantt", lambda w, _: {"projectId": w.demo["Project"]}, nullable=False),
    # mutations naming a Demo record directly
    Case("updateProject.id", UPDATE_PROJECT, "updateProject", lambda w, _: input_of(
        id=w.demo["Project"], version=w.demo_version["Project"], name="taken over by Acme")),
    Case("createTask.projectId", CREATE_TASK, "createTask", lambda w, _: input_of(
        projectId=w.demo["Project"], name="Acme task in a Demo project")),
    Case("updateTask.id", UPDATE_TASK, "updateTask", lambda w, _: input_of(
        id=w.demo["Task"], version=w.demo_version["Task"], name="taken over by Acme")),
    Case("addTaskDependency(Demo tasks)", ADD_TASK_DEPENDENCY, "addTaskDependency", lambda w, _: input_of(
        predecessorId=w.demo["Successor"], successorId=w.demo["Predecessor"])),
    Case("removeTaskDependency(Demo tasks)", REMOVE_TASK_DEPENDENCY, "removeTaskDependency", lambda w, _: input_of(
        predecessorId=w.demo["Predecessor"], successorId=w.demo["Successor"])),
    Case("logTime.taskId", LOG_TIME, "logTime", lambda w, _: input_of(taskId=w.demo["Task"], hours="1")),
    Case("submitTimesheet.projectId", SUBMIT_TIMESHEET, "submitTimesheet", lambda w, _: input_of(
        projectId=w.demo["Project"], weekStart=TODAY.isoformat())),
    Case("approveTimesheet.timesheetId", APPROVE_TIMESHEET, "approveTimesheet", lambda w, _: input_of(
        timesheetId=w.demo["Timesheet"])),
    Case("rejectTimesheet.timesheetId", REJECT_TIMESHEET, "rejectTimesheet", lambda w, _: input_of(
        timesheetId=w.demo["Timesheet"], comment="Acme sends it back")),
    Case("reportProgress.projectId", REPORT_PROGRESS, "reportProgress", lambda w, _: input_of(
        projectId=w.demo["Project"], status="Acme reports", health="RED")),
    Case("addExpense.projectId", ADD_EXPENSE, "addExpense", lambda w, _: input_of(
        projectId=w.demo["Project"], amount="1", description="Acme expense")),
    Case("requestChange.projectId", REQUEST_CHANGE, "requestChange", lambda w, _: input_of(
        projectId=w.demo["Project"], title="Acme change", reason="Acme", budgetDelta="-1")),
    Case("approveChange.id", APPROVE_CHANGE, "approveChange", lambda w, _: input_of(id=w.demo["ChangeRequest"])),
    Case("rejectChange.id", REJECT_CHANGE, "rejectChange", lambda w, _: input_of(
        id=w.demo["ChangeRequest"], comment="Acme rejects")),
    Case("setCostRate.userId", SET_COST_RATE, "setCostRate", lambda w, _: input_of(
        userId=w.demo["User"], costRate="1")),
    Case("shareRecord.recordId(Project)", SHARE_RECORD, "shareRecord", lambda w, _: input_of(
        recordId=w.demo["Project"], userId=w.acme["Rep"])),
    # mutations on Acme's own records naming a Demo record in a nested position
    Case("createOpportunity.projectManagerId", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: input_of(
        customerId=w.acme["Customer"], name="Acme deal run by Demo", projectManagerId=w.demo["PM"])),
    Case("updateOpportunity.projectManagerId", UPDATE_OPPORTUNITY, "updateOpportunity", lambda w, _: input_of(
        id=w.acme["Opportunity"], version=w.acme_version["Opportunity"], projectManagerId=w.demo["PM"])),
    Case("updateProject.managerId", UPDATE_PROJECT, "updateProject", lambda w, _: input_of(
        id=w.acme["Project"], version=w.acme_version["Project"], managerId=w.demo["PM"])),
    Case("createTask.parentId", CREATE_TASK, "createTask", lambda w, _: input_of(
        projectId=w.acme["Project"], name="Acme sub-task of a Demo task", parentId=w.demo["Task"])),
    Case("createTask.assigneeId", CREATE_TASK, "createTask", lambda w, _: input_of(
        projectId=w.acme["Project"], name="Acme task for Demo", assigneeId=w.demo["User"])),
    Case("updateTask.assigneeId", UPDATE_TASK, "updateTask", lambda w, _: input_of(
        id=w.acme["Task"], version=w.acme_version["Task"], assigneeId=w.demo["User"])),
    Case("addTaskDependency.predecessorId", ADD_TASK_DEPENDENCY, "addTaskDependency", lambda w, _: input_of(
        predecessorId=w.demo["Task"], successorId=w.acme["Task"])),
    Case("addTaskDependency.successorId", ADD_TASK_DEPENDENCY, "addTaskDependency", lambda w, _: input_of(
        predecessorId=w.acme["Task"], successorId=w.demo["Task"])),
    Case("removeTaskDependency.predecessorId", REMOVE_TASK_DEPENDENCY, "removeTaskDependency", lambda w, _: input_of(
        predecessorId=w.demo["Task"], successorId=w.acme["Task"])),
    Case("removeTaskDependency.successorId", REMOVE_TASK_DEPENDENCY, "removeTaskDependency", lambda w, _: input_of(
        predecessorId=w.acme["Task"], successorId=w.demo["Task"])),
    Case("logTime.projectId", LOG_TIME, "logTime", lambda w, _: input_of(
        taskId=w.acme["Task"], projectId=w.demo["Project"], hours="1")),
    Case("setCostRate.userId(Demo PM)", SET_COST_RATE, "setCostRate", lambda w, _: input_of(
        userId=w.demo["PM"], costRate=None)),
]


UNNAMED_CASES = [
    Case("createProjectTemplate", CREATE_PROJECT_TEMPLATE, "createProjectTemplate", lambda w, _: input_of(
        **_template_input(_unique("Acme own template")))),
    # the same mutations as the NOT_FOUND cases, with Acme's ids only: they succeed
    Case("createTask(Acme ids)", CREATE_TASK, "createTask", lambda w, _: input_of(
        projectId=w.acme["Project"], name=_unique("Acme own task"), assigneeId=w.acme["Admin"], durationDays=1)),
    Case("logTime(Acme task)", LOG_TIME, "logTime", lambda w, _: input_of(
        taskId=w.acme["Task"], projectId=w.acme["Project"], hours="1", date=TODAY.isoformat())),
    Case("reportProgress(Acme project)", REPORT_PROGRESS, "reportProgress", lambda w, _: input_of(
        projectId=w.acme["Project"], status="Acme on track", health="GREEN")),
    Case("addExpense(Acme project)", ADD_EXPENSE, "addExpense", lambda w, _: input_of(
        projectId=w.acme["Project"], amount="12.50", description="Acme taxi", category="travel")),
    Case("requestChange(Acme project)", REQUEST_CHANGE, "requestChange", lambda w, _: input_of(
        projectId=w.acme["Project"], title="Acme change", reason="Acme asks", budgetDelta="100")),
    Case("updateTask(Acme assignee)", UPDATE_TASK, "updateTask", lambda w, _: input_of(
        id=w.acme["Task"], version=w.acme_version["Task"], assigneeId=w.acme["Rep"])),
    Case("updateProject(Acme manager)", UPDATE_PROJECT, "updateProject", lambda w, _: input_of(
        id=w.acme["Project"], version=w.acme_version["Project"], managerId=w.acme["Admin"],
        description=_unique("Acme probe project"))),
    Case("setCostRate(Acme rep)", SET_COST_RATE, "setCostRate", lambda w, _: input_of(
        userId=w.acme["Rep"], costRate=str(uuid.uuid4().int % 900 + 100))),
    Case("createOpportunity(Acme project manager)", CREATE_OPPORTUNITY, "createOpportunity", lambda w, _: input_of(
        customerId=w.acme["Customer"], name=_unique("Acme deal run by Acme"), projectManagerId=w.acme["Admin"])),
]


CONNECTION_CASES = [
    Case("projects", PROJECTS, "projects", lambda w, _: {}),
    Case("timesheets", TIMESHEETS, "timesheets", lambda w, _: {}),
]

MODELS = {"projects": Project, "timesheets": Timesheet}

MODELS = {"projects": Project, "timesheets": Timesheet}

FILTERED_CASES = [
    *[Case(f"projects({f}: Demo)", PROJECTS, "projects", lambda w, _, f=f, k=k: {"filter": {f: w.demo[k]}})
      for f, k in (("managerId", "PM"), ("customerId", "Customer"))],
    Case("projects(search: Demo name)", PROJECTS, "projects", lambda w, _: {
        "filter": {"search": w.demo["ProjectName"]}}),
    *[Case(f"timesheets({f}: Demo)", TIMESHEETS, "timesheets", lambda w, _, f=f, k=k: {"filter": {f: w.demo[k]}})
      for f, k in (("projectId", "Project"), ("userId", "User"))],
]


LIST_CASES = [
    Case("projectTemplates", PROJECT_TEMPLATES, "projectTemplates", lambda w, _: {}),
    Case("myTimeEntries", MY_TIME_ENTRIES, "myTimeEntries", lambda w, _: {
        "since": (LAST_WEEK - timedelta(days=7)).isoformat(), "until": TODAY.isoformat()}),
    Case("project(id: Acme project)", PROJECT, "project", lambda w, _: {"id": w.acme["Project"]}),
    Case("gantt(projectId: Acme project)", GANTT, "gantt", lambda w, _: {"projectId": w.acme["Project"]}),
    Case("timesheets(projectId: Acme project)", TIMESHEETS, "timesheets", lambda w, _: {
        "filter": {"projectId": w.acme["Project"]}}),
]


NO_ID_QUERIES: set[str] = set()
