"""Progress: percent complete rolled up from the leaf tasks weighted by their estimates; progress
reports on the project's and the deal's timelines; delay-risk warnings once per slip; and the
scheduler's delivery pass escalating overdue tasks up the assignee's chain."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.collaboration.sla import Escalation, SlaKind
from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.progress import report_progress, run_delivery
from tandem.domain.delivery.project import Health, TemplateTask
from tandem.domain.delivery.task import Task, TaskInput, TaskStatus, create_task
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import OutboxEvent
from tests.factories.checks import fails
from tests.factories.delivery import (
    MONDAY,
    assign_task,
    edit_task,
    new_delivery_org,
    new_project,
    outbox_topics,
    reload_project,
    tasks_by_name,
)

PHASED = (
    TemplateTask("phase", "阶段一", 1, Decimal(100)),
    TemplateTask("a", "A", 3, Decimal(30), parent="phase"),
    TemplateTask("b", "B", 1, Decimal(10), parent="phase"),
    TemplateTask("c", "C", 2, Decimal(0)),
)
RISKS = ("task.delay_risk", "project.schedule_risk")


@pytest.fixture(autouse=True)
def monday():
    clock.set(MONDAY)
    yield
    clock.set(None)


def clock_at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    at = datetime(year, month, day, hour, minute, tzinfo=UTC)
    clock.set(at)
    return at


async def _tick(db, now: datetime, **kw) -> list[Escalation]:
    async with db.write() as s:
        return await run_delivery(s, now, **kw)


async def _escalations(db, task) -> list[tuple[int, int, str, int]]:
    async with db.read() as s:
        rows = await s.scalars(select(Escalation).where(Escalation.item_kind == SlaKind.TASK.value,
                                                        Escalation.item_id == task.id).order_by(Escalation.level))
        return [(e.level, e.escalated_to_id, e.record_type, e.record_id) for e in rows]


async def test_percent_complete_is_weighted_by_the_leaf_tasks_estimates(db):
    # given phase {A 30 h, B 10 h} and C 0 h: the phase's own 100 h does not count
    org = await new_delivery_org(db)
    project = await new_project(db, org, *PHASED)
    plan = await tasks_by_name(db, org, project)
    # when B is done, then A half done, then C done
    await edit_task(db, org.pm, plan["B"], status=TaskStatus.DONE)
    assert (await reload_project(db, project)).percent_complete == Decimal("25.00")
    await edit_task(db, org.pm, plan["A"], percent_complete=50)
    assert (await reload_project(db, project)).percent_complete == Decimal("62.50")
    await edit_task(db, org.pm, plan["C"], status=TaskStatus.DONE)
    assert (await reload_project(db, project)).percent_complete == Decimal("62.50")
    # when A is cancelled, what is left is all done
    a = (await tasks_by_name(db, org, project))["A"]
    await edit_task(db, org.pm, a, status=TaskStatus.CANCELLED)
    assert (await reload_project(db, project)).percent_complete == Decimal("100.00")


async def test_without_estimates_percent_complete_is_weighted_by_duration(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, TemplateTask("a", "A", 3), TemplateTask("b", "B", 1))
    await edit_task(db, org.pm, (await tasks_by_name(db, org, project))["B"], status=TaskStatus.DONE)
    assert (await reload_project(db, project)).percent_complete == Decimal("25.00")


async def test_a_progress_report_reaches_the_deals_timeline(db):
    # given a project from the rep's deal
    org = await new_delivery_org(db)
    project = await new_project(db, org, *PHASED)
    await edit_task(db, org.pm, (await tasks_by_name(db, org, project))["B"], status=TaskStatus.DONE)
    # when its manager reports amber
    async with db.write() as s:
        report = await report_progress(s, org.pm, project_id=project.id, status_text="接口延迟，正在追赶",
                                       health=Health.AMBER)
    # then the report keeps today's percent, the project turns amber, and sales hears of it
    after = await reload_project(db, project)
    assert (report.health, report.percent_complete, report.reported_by_id) == ("amber", Decimal("25.00"),
                                                                                org.pm.user_id)
    assert (after.health, after.status) == ("amber", "active")
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == org.org_id,
                                                         OutboxEvent.topic == "project.progress_reported"))
    assert (event.also_type, event.also_id, event.audience) == ("Opportunity", project.opportunity_id,
                                                                [org.rep.user_id])


async def test_only_the_project_manager_reports_progress(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *PHASED)
    for who in (org.dev, org.rep, org.pm2):
        async with db.write() as s:
            with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
                await report_progress(s, who, project_id=project.id, status_text="一切正常", health=Health.GREEN)


async def test_a_slipping_task_warns_once_per_slip(db):
    # given the standard plan (design 8-10 June on the critical path), dev on the design
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    design = await assign_task(db, org, (await tasks_by_name(db, org, project))["方案设计"], org.dev)
    ids = {name: t.id for name, t in (await tasks_by_name(db, org, project)).items()}
    late = sorted([("task.delay_risk", "Task", ids["方案设计"]), ("task.delay_risk", "Task", ids["开发"]),
                   ("task.delay_risk", "Task", ids["上线"]), ("project.schedule_risk", "Project", project.id)])
    # when the design takes 5 days instead of 3
    design = await edit_task(db, org.pm, design, duration_days=5)
    # then the design, everything after it on the critical path and the project are late: one warning each
    assert sorted(await outbox_topics(db, org, *RISKS)) == late
    assert design.at_risk and (await reload_project(db, project)).schedule_risk
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.topic == "task.delay_risk",
                                                         OutboxEvent.record_id == design.id))
    assert (event.payload["daysLate"], event.audience) == (2, sorted([org.pm.user_id, org.dev.user_id]))
    # when it slips further, nobody is told again
    design = await edit_task(db, org.pm, design, duration_days=6)
    assert sorted(await outbox_topics(db, org, *RISKS)) == late
    # when it is back on plan, the flags clear
    design = await edit_task(db, org.pm, design, duration_days=3)
    plan = await tasks_by_name(db, org, project)
    assert [t.at_risk for t in plan.values()] == [False] * 5
    assert (await reload_project(db, project)).schedule_risk is False
    # and a new slip is a new warning
    await edit_task(db, org.pm, design, duration_days=4)
    assert sorted(await outbox_topics(db, org, *RISKS)) == sorted(late + late)


async def test_a_task_past_its_own_due_date_warns_even_off_the_critical_path(db):
    # given the docs (8-9 June, 11 days of slack) due on 9 June
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    docs = await edit_task(db, org.pm, (await tasks_by_name(db, org, project))["文档"], due_date=date(2026, 6, 9))
    # when they take 4 days
    docs = await edit_task(db, org.pm, docs, duration_days=4)
    # then the docs are late, not the project
    assert docs.at_risk
    assert await outbox_topics(db, org, *RISKS) == [("task.delay_risk", "Task", docs.id)]


async def test_an_overdue_task_escalates_to_the_assignees_manager(db):
    # given dev (reporting to lead) owns a report due Wednesday 3 June
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    async with db.write() as s:
        report = await create_task(s, org.pm, TaskInput(project_id=project.id, name="周报", assignee_id=org.dev.user_id,
                                                        due_date=date(2026, 6, 3)))
    # when the scheduler runs late on Wednesday, nothing is overdue yet
    await _tick(db, clock_at(2026, 6, 3, 23, 59))
    assert await _escalations(db, report) == []
    # when it runs just after midnight: escalated to lead, on the project's timeline
    await _tick(db, clock_at(2026, 6, 4, 0, 1))
    assert await _escalations(db, report) == [(1, org.lead.user_id, "Project", project.id)]
    async with db.read() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == org.org_id,
                                                         OutboxEvent.topic == "sla.escalated"))
    assert (event.record_type, event.record_id, event.audience) == ("Task", report.id, [org.lead.user_id])
    assert (event.payload["kind"], event.payload["level"], event.payload["projectId"]) == ("task", 1, project.id)
    # and running again the same day changes nothing; lead has no manager to go to next
    await _tick(db, clock_at(2026, 6, 4, 6))
    await _tick(db, clock_at(2026, 6, 5, 6))
    assert await _escalations(db, report) == [(1, org.lead.user_id, "Project", project.id)]


async def test_a_finished_task_does_not_escalate(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    async with db.write() as s:
        report = await create_task(s, org.pm, TaskInput(project_id=project.id, name="周报", assignee_id=org.dev.user_id,
                                                        due_date=date(2026, 6, 3)))
    clock_at(2026, 6, 3, 17)
    await edit_task(db, org.dev, report, status=TaskStatus.DONE)
    await _tick(db, clock_at(2026, 6, 4, 9))
    assert await _escalations(db, report) == []


async def test_an_overdue_task_escalates_however_many_projects_are_open(db):
    # given two projects, each with an overdue task of dev's
    org = await new_delivery_org(db)
    overdue: list[Task] = []
    for name in ("一期", "二期"):
        project = await new_project(db, org, TemplateTask("k", "启动", 1), name=name)
        async with db.write() as s:
            overdue.append(await create_task(s, org.pm, TaskInput(project_id=project.id, name=f"{name} 周报",
                                                                  assignee_id=org.dev.user_id,
                                                                  due_date=date(2026, 6, 2))))
    # when the delivery pass reschedules one project at a time
    await _tick(db, clock_at(2026, 6, 3, 9), limit=1)
    # then both tasks escalated all the same
    assert [len(await _escalations(db, t)) for t in overdue] == [1, 1]
