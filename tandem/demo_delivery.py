"""Demo data for delivery: project templates (seeded before the demo deals are won, so the won ones
become scheduled projects), cost rates, assignments, time logged, a progress report, an expense and
a change request waiting for the project manager."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.delivery.budget import add_expense
from tandem.domain.delivery.change_request import request_change
from tandem.domain.delivery.progress import report_progress
from tandem.domain.delivery.project import Health, Project, TemplateTask, create_template
from tandem.domain.delivery.task import TaskInput, TaskStatus, tasks_of, update_task
from tandem.domain.delivery.timesheet import log_time
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.user import set_cost_rate


async def seed_templates(session: AsyncSession, pm: Actor) -> None:
    await create_template(session, pm, name="标准实施（ERP / 系统集成）", keywords=["ERP", "集成", "App", "改造"],
                          is_default=True, tasks=[
        TemplateTask("kickoff", "项目启动会", 1, Decimal(8)),
        TemplateTask("req", "需求调研", 5, Decimal(80), ["kickoff"]),
        TemplateTask("design", "方案设计", 5, Decimal(60), ["req"]),
        TemplateTask("build", "开发与配置", 15, Decimal(320), ["design"]),
        TemplateTask("data", "数据迁移", 5, Decimal(60), ["design"]),
        TemplateTask("uat", "用户验收测试", 5, Decimal(80), ["build", "data"]),
        TemplateTask("golive", "上线", 0, Decimal(0), ["uat"]),
    ])
    await create_template(session, pm, name="Maintenance onboarding", keywords=["Maintenance", "运维"],
                          is_default=False, tasks=[
        TemplateTask("handover", "Handover from delivery", 3, Decimal(16)),
        TemplateTask("runbook", "Runbook and monitoring", 5, Decimal(40), ["handover"]),
        TemplateTask("first", "First quarterly review", 1, Decimal(8), ["runbook"]),
    ])


async def seed_delivery(session: AsyncSession, *, finance: Actor, pm: Actor, engineer: Actor, today: date) -> None:
    for who, rate in ((pm, Decimal("450")), (engineer, Decimal("300"))):
        await set_cost_rate(session, finance, who.user_id, rate)
    projects = list(await session.scalars(select(Project).where(Project.org_id == pm.org_id).order_by(Project.id)))
    for project in projects:
        tasks = (await tasks_of(session, pm, [project.id]))[project.id]
        if not tasks:
            continue
        first, second = tasks[0], tasks[1]
        first = await update_task(session, pm, first.id, first.version, TaskInput(
            assignee_id=pm.user_id, set_fields={"assignee_id"}))
        second = await update_task(session, pm, second.id, second.version, TaskInput(
            assignee_id=engineer.user_id, set_fields={"assignee_id"}))
        await log_time(session, pm, task_id=first.id, work_date=today, hours=Decimal("6"), note="项目启动会与准备")
        first = await update_task(session, pm, first.id, first.version, TaskInput(
            status=TaskStatus.DONE, set_fields={"status"}))
        await log_time(session, engineer, task_id=second.id, work_date=today, hours=Decimal("7.5"),
                       note="客户访谈：财务、采购")
        await update_task(session, engineer, second.id, second.version, TaskInput(
            percent_complete=20, set_fields={"percent_complete"}))
        await report_progress(session, pm, project_id=project.id, health=Health.GREEN,
                              status_text="启动会已完成，需求调研进行中；Kick-off done, requirements under way.")
        await add_expense(session, pm, project_id=project.id, amount=Decimal("3200.00"), spent_on=today,
                          category="travel", description="现场差旅 / on-site travel")
        await request_change(session, engineer, project_id=project.id, title="增加移动端审批",
                             reason="客户在需求调研中提出", scope_change="移动端审批流（5 个表单）",
                             budget_delta=Decimal("30000.00"), schedule_delta_days=5)
        break  # one project tells the story; the others stay fresh
