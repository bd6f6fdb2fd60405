"""Projects: listing, the Gantt view, templates, settings, progress, expenses and change requests."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from tandem.domain.delivery import budget, change_request, progress
from tandem.domain.delivery import project as service
from tandem.domain.delivery.task import dependencies_of, tasks_of, wbs_codes
from tandem.domain.shared.pagination import PageRequest
from tandem.schema.node import decode_id, to_global_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.project import (
    AddExpenseInput,
    ChangeRequest,
    ChangeRequestPayload,
    CreateProjectTemplateInput,
    DecideChangeInput,
    Expense,
    ExpensePayload,
    ProgressReport,
    ProgressReportPayload,
    Project,
    ProjectFilter,
    ProjectPayload,
    ProjectTemplate,
    ProjectTemplatePayload,
    ReportProgressInput,
    RequestChangeInput,
    UpdateProjectInput,
)
from tandem.schema.task import Gantt, GanttBar, TaskDependency

from .lists import ListRequest
from .mutation import named, opt_id, run, value
from .writes import acts, row_rule, writes


def _payload(m: service.Project | None = None, user_errors: list | None = None) -> ProjectPayload:
    return ProjectPayload(project=Project.from_model(m) if m else None, user_errors=user_errors or [])


def _pair(make):
    """A payload of (object, project) from a service returning the object (the project re-read)."""

    def payload(result=None, user_errors=None):
        if result is None:
            return make(None, None, user_errors or [])
        obj, project = result
        return make(obj, Project.from_model(project), [])

    return payload


def project_list(ctx: Any, first: int | None = None, after: str | None = None, last: int | None = None,
                 before: str | None = None, filter: ProjectFilter | None = None) -> ListRequest:
    """The arguments of ``projects``, checked (shared by the resolver and the compiled read path)."""
    flt = filter or ProjectFilter()
    ctx.authz.require_read("Project", [n for n, used in (
        ("manager", flt.manager_id), ("customer", flt.customer_id), ("health", flt.health),
        ("status", flt.status), ("name", flt.search), ("archivedAt", flt.archived is not False)) if used])
    domain_filter = service.ProjectFilter(
        manager_id=opt_id("User", flt.manager_id), customer_id=opt_id("Customer", flt.customer_id),
        health=flt.health.value if flt.health else None, status=flt.status.value if flt.status else None,
        search=flt.search, archived=flt.archived)
    req = PageRequest(first=first, after=after, last=last, before=before, descending=True)
    return ListRequest(domain_filter, req, "CREATED_AT")


@strawberry.type
class ProjectQuery:
    @strawberry.field(description="Delivery projects you may see, newest first.")
    async def projects(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None,
                       filter: ProjectFilter | None = None) -> Connection[Project]:
        ctx = info.context
        asked = project_list(ctx, first, after, last, before, filter)
        async with ctx.read() as session:
            page = await service.list_projects(session, ctx.actor, asked.filter, asked.page,
                                               with_total=wants_total(info))
        return Connection.from_page(page, Project.from_model)

    @strawberry.field
    async def project(self, info: strawberry.Info, id: strawberry.ID) -> Project | None:
        ctx = info.context
        pk = decode_id("Project", id)
        async with ctx.read() as session:
            return Project.from_model(await service.get_project(session, ctx.actor, pk))

    @strawberry.field(description="Every bar of the project's Gantt chart: planned (baseline), scheduled and "
                                  "forecast dates, progress, dependencies and the critical path.")
    async def gantt(self, info: strawberry.Info, project_id: strawberry.ID) -> Gantt:
        ctx = info.context
        pk = decode_id("Project", project_id)
        async with ctx.read() as session:
            project = await service.get_project(session, ctx.actor, pk)
            tasks = (await tasks_of(session, ctx.actor, [pk]))[pk]
            links = (await dependencies_of(session, ctx.actor, [pk]))[pk]
        codes = wbs_codes(tasks)
        into: dict[int, list[TaskDependency]] = {}
        for link in links:
            into.setdefault(link.successor_id, []).append(TaskDependency.from_model(link))
        ordered = sorted(tasks, key=lambda t: tuple(int(p) for p in codes[t.id].split(".")))
        bars = [GanttBar(
            task_id=to_global_id("Task", t.id), name=t.name, wbs=codes[t.id],
            parent_id=to_global_id("Task", t.parent_id) if t.parent_id else None, is_summary=t.is_summary,
            is_milestone=t.is_milestone, planned_start=t.baseline_start, planned_finish=t.baseline_finish,
            start=t.early_start, finish=t.early_finish, forecast_start=t.forecast_start,
            forecast_finish=t.forecast_finish, progress=t.percent_complete, critical=t.critical,
            slack_days=t.slack_days, at_risk=t.at_risk,
            assignee_id=to_global_id("User", t.assignee_id) if t.assignee_id else None,
            dependencies=into.get(t.id, [])) for t in ordered]
        critical = sorted((t for t in tasks if t.critical and not t.is_summary and t.status != "cancelled"),
                          key=lambda t: (t.early_start or project.start_date, t.early_finish or project.start_date,
                                         t.id))
        return Gantt(project_id=project_id, start=service.calendar_of(project).origin,
                     finish=project.scheduled_finish,
                     planned_finish=project.planned_finish, forecast_finish=project.forecast_finish,
                     deadline=project.deadline, working_days=[d for d in range(7) if d not in project.weekend_days],
                     holidays=[date.fromisoformat(d) for d in project.holidays], bars=bars,
                     critical_path=[to_global_id("Task", t.id) for t in critical])

    @strawberry.field
    async def project_templates(self, info: strawberry.Info) -> list[ProjectTemplate]:
        ctx = info.context
        async with ctx.read() as session:
            return [ProjectTemplate.from_model(t) for t in await service.templates_of(session, ctx.actor)]


@strawberry.type
class ProjectMutation:
    @acts("ProjectTemplate", "create")
    @strawberry.mutation(description="A task list with durations and dependencies, applied to won deals whose name "
                                     "contains one of its keywords (or to all, as the default).")
    async def create_project_template(self, info: strawberry.Info,
                                      input: CreateProjectTemplateInput) -> ProjectTemplatePayload:
        actor = info.context.actor
        tasks = [service.TemplateTask(key=t.key, name=t.name, duration_days=t.duration_days,
                                      estimate_hours=t.estimate_hours, depends_on=list(t.depends_on), parent=t.parent)
                 for t in input.tasks]
        return await run(info, lambda s: service.create_template(
            s, actor, name=input.name, keywords=list(input.keywords), is_default=input.is_default, tasks=tasks),
            lambda m=None, user_errors=None: ProjectTemplatePayload(
                template=ProjectTemplate.from_model(m) if m else None, user_errors=user_errors or []))

    @writes("Project", "update")
    @strawberry.mutation(description="The manager's settings: status (CLOSED stops time logging), manager, dates, "
                                     "working calendar, risk thresholds.")
    async def update_project(self, info: strawberry.Info, input: UpdateProjectInput) -> ProjectPayload:
        actor = info.context.actor
        pk = decode_id("Project", input.id)
        status = value(input, "status")
        data = service.ProjectSettings(
            name=value(input, "name"), description=value(input, "description"),
            status=service.ProjectStatus(status.value) if status else None,
            manager_id=opt_id("User", value(input, "manager_id")), start_date=value(input, "start_date"),
            deadline=value(input, "deadline"), weekend_days=value(input, "weekend_days"),
            holidays=value(input, "holidays"), cost_margin_percent=value(input, "cost_margin_percent"),
            spi_threshold=value(input, "spi_threshold"),
            change_threshold_percent=value(input, "change_threshold_percent"), set_fields=named(input))
        return await run(info, lambda s: service.update_project(s, actor, pk, input.version, data), _payload)

    @writes("Project", "update", fields={"project_id": None, "status": "Project.progressReports",
                                         "health": "Project.health"})
    @strawberry.mutation(description="Where delivery stands (status text + RAG health); shows on the project's and "
                                     "the opportunity's timelines.")
    async def report_progress(self, info: strawberry.Info, input: ReportProgressInput) -> ProgressReportPayload:
        actor = info.context.actor
        pk = decode_id("Project", input.project_id)

        async def work(s):
            report = await progress.report_progress(s, actor, project_id=pk, status_text=input.status,
                                                    health=service.Health(input.health.value))
            return report, await service.get_project(s, actor, pk)

        return await run(info, work, _pair(lambda r, p, e: ProgressReportPayload(
            report=ProgressReport.from_model(r) if r else None, project=p, user_errors=e)))

    @writes("Project", "update", fields={"project_id": None, **dict.fromkeys(
        ("amount", "description", "category", "spent_on"), "Project.expenses")})
    @strawberry.mutation(description="Record an expense against the project's budget.")
    async def add_expense(self, info: strawberry.Info, input: AddExpenseInput) -> ExpensePayload:
        actor = info.context.actor
        pk = decode_id("Project", input.project_id)

        async def work(s):
            expense = await budget.add_expense(s, actor, project_id=pk, amount=input.amount, spent_on=input.spent_on,
                                               category=input.category, description=input.description)
            return expense, await service.get_project(s, actor, pk)

        return await run(info, work, _pair(lambda x, p, e: ExpensePayload(
            expense=Expense.from_model(x) if x else None, project=p, user_errors=e)))

    @acts("ChangeRequest", "create")
    @strawberry.mutation(description="Ask for a scope, budget or schedule change, with its reason.")
    async def request_change(self, info: strawberry.Info, input: RequestChangeInput) -> ChangeRequestPayload:
        actor = info.context.actor
        pk = decode_id("Project", input.project_id)

        async def work(s):
            change = await change_request.request_change(
                s, actor, project_id=pk, title=input.title, reason=input.reason, scope_change=input.scope_change,
                budget_delta=input.budget_delta, schedule_delta_days=input.schedule_delta_days)
            return change, await service.get_project(s, actor, pk)

        return await run(info, work, _change_payload)

    @row_rule("the project's manager, then a sales manager when the change is over the threshold")
    @strawberry.mutation(description="Approve a change: the project manager first, then a sales manager when it is "
                                     "over the threshold. The last approval moves the budget and the deadline.")
    async def approve_change(self, info: strawberry.Info, input: DecideChangeInput) -> ChangeRequestPayload:
        actor = info.context.actor
        pk = decode_id("ChangeRequest", input.id)

        async def work(s):
            change = await change_request.approve_change(s, actor, pk, comment=input.comment)
            return change, await service.get_project(s, actor, change.project_id)

        return await run(info, work, _change_payload)

    @row_rule("the project's manager, then a sales manager when the change is over the threshold")
    @strawberry.mutation(description="Reject a change request, with the reason.")
    async def reject_change(self, info: strawberry.Info, input: DecideChangeInput) -> ChangeRequestPayload:
        actor = info.context.actor
        pk = decode_id("ChangeRequest", input.id)

        async def work(s):
            change = await change_request.reject_change(s, actor, pk, reason=input.comment)
            return change, await service.get_project(s, actor, change.project_id)

        return await run(info, work, _change_payload)


def _change_payload(result=None, user_errors=None) -> ChangeRequestPayload:
    if result is None:
        return ChangeRequestPayload(user_errors=user_errors or [])
    change, project = result
    return ChangeRequestPayload(change_request=ChangeRequest.from_model(change, project.currency),
                                project=Project.from_model(project))
