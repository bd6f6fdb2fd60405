"""Tasks and dependencies: the project manager plans (tasks, links, dates), the assignee reports
status and percent complete; links stay inside one project, join leaf tasks only and never close a
cycle; every change reschedules the project on its working days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.project import (
    Project,
    ProjectMember,
    ProjectSettings,
    ProjectStatus,
    TemplateTask,
    update_project,
)
from tandem.domain.delivery.task import (
    DependencyKind,
    Task,
    TaskDependency,
    TaskInput,
    TaskStatus,
    add_dependency,
    create_task,
    remove_dependency,
    update_task,
)
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import Conflict, NotFound
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.shared.scope import Scope
from tests.factories.checks import count, fails
from tests.factories.delivery import (
    MONDAY,
    assign_task,
    edit_task,
    new_delivery_org,
    new_project,
    outbox_topics,
    project_of,
    tasks_by_name,
    won_opportunity,
)

CHAIN = (
    TemplateTask("a", "A", 2, Decimal(16)),
    TemplateTask("b", "B", 3, Decimal(24), ["a"]),
    TemplateTask("c", "C", 1, Decimal(8), ["b"]),
    TemplateTask("d", "D", 2, Decimal(16)),
)


@pytest.fixture(autouse=True)
def monday():
    clock.set(MONDAY)
    yield
    clock.set(None)


async def _new_task(db, by, project, **fields) -> Task:
    async with db.write() as s:
        return await create_task(s, by, TaskInput(project_id=project.id, **fields))


async def _link(db, by, predecessor, successor, kind=DependencyKind.FINISH_TO_START, lag=0) -> TaskDependency:
    async with db.write() as s:
        return await add_dependency(s, by, predecessor_id=predecessor.id, successor_id=successor.id, kind=kind,
                                    lag_days=lag)


async def _unlink(db, by, predecessor, successor) -> None:
    async with db.write() as s:
        await remove_dependency(s, by, predecessor_id=predecessor.id, successor_id=successor.id)


async def _links(db, project) -> list[tuple[int, int]]:
    async with db.read() as s:
        rows = await s.scalars(select(TaskDependency).where(TaskDependency.project_id == project.id)
                               .order_by(TaskDependency.id))
        return [(x.predecessor_id, x.successor_id) for x in rows]


async def test_a_task_of_another_project_cannot_be_linked_or_nested(db):
    # given two projects the pm runs
    org = await new_delivery_org(db)
    mine = await new_project(db, org, *CHAIN)
    other = await new_project(db, org, *CHAIN, name="ERP 二期")
    a, theirs = (await tasks_by_name(db, org, mine))["A"], (await tasks_by_name(db, org, other))["D"]
    # then a link across them is refused
    async with db.write() as s:
        with fails(DeliveryErrorCode.TASK_OUTSIDE_PROJECT):
            await add_dependency(s, org.pm, predecessor_id=a.id, successor_id=theirs.id)
    # and so is a sub-task under the other project's task
    async with db.write() as s:
        with fails(DeliveryErrorCode.TASK_OUTSIDE_PROJECT):
            await create_task(s, org.pm, TaskInput(project_id=mine.id, parent_id=theirs.id, name="子任务"))
    assert await count(db, TaskDependency, TaskDependency.successor_id == theirs.id) == 0
    assert await count(db, Task, Task.project_id == mine.id) == len(CHAIN)


async def test_a_dependency_cycle_is_refused_and_nothing_is_written(db):
    # given A → B → C
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    before = await tasks_by_name(db, org, project)
    links = await _links(db, project)
    # when C → A is asked for, or A → A
    async with db.write() as s:
        with fails(DeliveryErrorCode.DEPENDENCY_CYCLE):
            await add_dependency(s, org.pm, predecessor_id=before["C"].id, successor_id=before["A"].id)
    async with db.write() as s:
        with fails(DeliveryErrorCode.DEPENDENCY_CYCLE):
            await add_dependency(s, org.pm, predecessor_id=before["A"].id, successor_id=before["A"].id)
    # then no link, no date and no event changed
    assert await _links(db, project) == links
    after = await tasks_by_name(db, org, project)
    assert [(t.early_start, t.early_finish, t.version) for t in after.values()] == [
        (t.early_start, t.early_finish, t.version) for t in before.values()]
    assert await outbox_topics(db, org, "task.dependency_added") == []


async def test_a_summary_task_cannot_be_linked(db):
    # given phase P with sub-task X, and B linked to A and C
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    d = (await tasks_by_name(db, org, project))["B"]  # linked to A and C
    phase = await _new_task(db, org.pm, project, name="阶段一")
    await _new_task(db, org.pm, project, name="X", parent_id=phase.id, duration_days=2)
    # then linking the phase, either way, is refused
    async with db.write() as s:
        with fails(DeliveryErrorCode.SUMMARY_TASK):
            await add_dependency(s, org.pm, predecessor_id=phase.id, successor_id=d.id)
    async with db.write() as s:
        with fails(DeliveryErrorCode.SUMMARY_TASK):
            await add_dependency(s, org.pm, predecessor_id=d.id, successor_id=phase.id)
    # and a linked task cannot become a summary
    async with db.write() as s:
        with fails(DeliveryErrorCode.SUMMARY_TASK):
            await create_task(s, org.pm, TaskInput(project_id=project.id, parent_id=d.id, name="B 的子任务"))
    assert not (await tasks_by_name(db, org, project))["B"].is_summary


async def test_a_summary_task_spans_its_sub_tasks(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, TemplateTask("k", "启动", 1))
    phase = await _new_task(db, org.pm, project, name="阶段一")
    first = await _new_task(db, org.pm, project, name="设计", parent_id=phase.id, duration_days=2)
    second = await _new_task(db, org.pm, project, name="实现", parent_id=phase.id, duration_days=3)
    await _link(db, org.pm, first, second)
    plan = await tasks_by_name(db, org, project)
    assert plan["阶段一"].is_summary
    assert (plan["阶段一"].early_start, plan["阶段一"].early_finish) == (date(2026, 6, 1), date(2026, 6, 5))
    # and its own dates cannot be set
    async with db.write() as s:
        with fails(DeliveryErrorCode.SUMMARY_TASK):
            await update_task(s, org.pm, phase.id, plan["阶段一"].version,
                              TaskInput(duration_days=9, set_fields={"duration_days"}))


async def test_only_the_project_manager_plans(db):
    # given dev assigned to A, and pm2 who runs other projects
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    plan = await tasks_by_name(db, org, project)
    a = await assign_task(db, org, plan["A"], org.dev)
    for who in (org.dev, org.pm2, org.rep):
        # then nobody else adds tasks, links them or changes what the plan says
        async with db.write() as s:
            with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
                await create_task(s, who, TaskInput(project_id=project.id, name="私活"))
        async with db.write() as s:
            with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
                await add_dependency(s, who, predecessor_id=plan["A"].id, successor_id=plan["D"].id)
        async with db.write() as s:
            with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
                await remove_dependency(s, who, predecessor_id=plan["A"].id, successor_id=plan["B"].id)
    # not even the assignee, beyond status and progress
    with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
        await edit_task(db, org.dev, a, duration_days=1)
    with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
        await edit_task(db, org.dev, a, percent_complete=50, due_date=date(2026, 6, 30))
    assert await count(db, Task, Task.project_id == project.id) == len(CHAIN)


async def test_the_assignee_reports_status_and_progress(db):
    # given dev assigned to A
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    plan = await tasks_by_name(db, org, project)
    a = await assign_task(db, org, plan["A"], org.dev)
    # when dev reports 50 %
    a = await edit_task(db, org.dev, a, percent_complete=50)
    # then the task is in progress since today, and so is the project
    assert (a.status, a.percent_complete, a.actual_start) == ("in_progress", 50, date(2026, 6, 1))
    async with db.read() as s:
        assert (await s.get(Project, project.id)).status == "active"
    # when dev marks it done
    a = await edit_task(db, org.dev, a, status=TaskStatus.DONE)
    assert (a.status, a.percent_complete, a.actual_finish) == ("done", 100, date(2026, 6, 1))
    # but a member who is not the assignee may not report on it
    b = await assign_task(db, org, plan["B"], org.dev2)
    with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
        await edit_task(db, org.dev, b, percent_complete=10)


async def test_an_update_naming_an_old_version_is_a_conflict(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    a = (await tasks_by_name(db, org, project))["A"]
    await edit_task(db, org.pm, a, name="A1")
    with pytest.raises(Conflict):
        await edit_task(db, org.pm, a, name="A2")


async def test_finish_and_start_links_with_lags_move_successors_over_the_weekend(db):
    # given A (3 days) from Monday, B starting two days after A starts, C one day after A finishes
    org = await new_delivery_org(db)
    project = await new_project(db, org, TemplateTask("a", "A", 3))
    a = (await tasks_by_name(db, org, project))["A"]
    b = await _new_task(db, org.pm, project, name="B", duration_days=4)
    c = await _new_task(db, org.pm, project, name="C", duration_days=2)
    await _link(db, org.pm, a, b, DependencyKind.START_TO_START, 2)
    await _link(db, org.pm, a, c, DependencyKind.FINISH_TO_START, 1)
    # then B runs Wednesday to Monday, C Friday to Monday, across the weekend
    plan = await tasks_by_name(db, org, project)
    assert [(plan[n].early_start, plan[n].early_finish) for n in "ABC"] == [
        (date(2026, 6, 1), date(2026, 6, 3)), (date(2026, 6, 3), date(2026, 6, 8)),
        (date(2026, 6, 5), date(2026, 6, 8))]
    assert [plan[n].critical for n in "ABC"] == [True, True, True]
    # when the start-to-start link is removed, B starts on Monday and A is critical through C alone
    await _unlink(db, org.pm, a, b)
    plan = await tasks_by_name(db, org, project)
    assert (plan["B"].early_start, plan["B"].early_finish) == (date(2026, 6, 1), date(2026, 6, 4))
    assert [plan[n].slack_days for n in "ABC"] == [0, 2, 0]


async def test_a_milestone_falls_on_the_day_its_predecessor_finishes(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, TemplateTask("a", "A", 5), TemplateTask("m", "验收", 0, Decimal(0), ["a"]))
    plan = await tasks_by_name(db, org, project)
    assert plan["验收"].is_milestone
    assert (plan["验收"].early_start, plan["验收"].early_finish) == (date(2026, 6, 5), date(2026, 6, 5))


async def test_a_task_given_a_due_date_lasts_the_working_days_until_it(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, TemplateTask("a", "A", 1))
    task = await _new_task(db, org.pm, project, name="报告", due_date=date(2026, 6, 9))
    assert (task.duration_days, task.early_start, task.early_finish) == (
        7, date(2026, 6, 1), date(2026, 6, 9))
    assert (task.baseline_start, task.baseline_finish) == (date(2026, 6, 1), date(2026, 6, 9))


async def test_the_assignee_becomes_a_project_member_and_is_told(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    task = await _new_task(db, org.pm, project, name="接口开发", assignee_id=org.dev.user_id)
    async with db.read() as s:
        member = await s.scalar(select(ProjectMember.id).where(ProjectMember.project_id == project.id,
                                                               ProjectMember.user_id == org.dev.user_id))
        created = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == org.org_id,
                                                           OutboxEvent.topic == "task.created"))
    assert member is not None
    assert (created.record_type, created.record_id, created.audience) == ("Task", task.id, [org.dev.user_id])


async def test_tasks_of_a_closed_project_cannot_change(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    a = (await tasks_by_name(db, org, project))["A"]
    async with db.write() as s:
        await update_project(s, org.pm, project.id, project.version,
                             ProjectSettings(status=ProjectStatus.CLOSED, set_fields={"status"}))
    with fails(DeliveryErrorCode.PROJECT_CLOSED):
        await edit_task(db, org.pm, a, name="A1")
    async with db.write() as s:
        with fails(DeliveryErrorCode.PROJECT_CLOSED):
            await create_task(s, org.pm, TaskInput(project_id=project.id, name="新任务"))


async def test_a_won_deal_without_a_template_can_be_planned_by_hand(db):
    org = await new_delivery_org(db)
    opp = await won_opportunity(db, org, project_manager_id=org.pm.user_id)
    project = await project_of(db, org, opp.id)
    task = await _new_task(db, org.pm, project, name="第一步", duration_days=3, estimate_hours=Decimal("12.5"))
    assert (task.early_start, task.early_finish, task.critical) == (date(2026, 6, 1), date(2026, 6, 3), True)


async def test_a_task_of_a_project_out_of_reach_is_not_found(db):
    # given pm plans one project, and pm2 runs another that pm may not see (own row scope, as over the API)
    org = await new_delivery_org(db)
    mine = await new_project(db, org, *CHAIN)
    secret = await won_opportunity(db, org, "保密项目", project_manager_id=org.pm2.user_id)
    theirs = await project_of(db, org, secret.id)
    a, hidden = (await tasks_by_name(db, org, mine))["A"], (await tasks_by_name(db, org, theirs))["B"]
    pm = replace(org.pm, scopes={"Project": Scope.OWN})
    # then naming the hidden task tells pm nothing about it, not even that it is elsewhere
    async with db.write() as s:
        with pytest.raises(NotFound):
            await add_dependency(s, pm, predecessor_id=a.id, successor_id=hidden.id)
    async with db.write() as s:
        with pytest.raises(NotFound):
            await remove_dependency(s, pm, predecessor_id=a.id, successor_id=hidden.id)
    async with db.write() as s:
        with pytest.raises(NotFound):
            await create_task(s, pm, TaskInput(project_id=mine.id, parent_id=hidden.id, name="子任务"))


async def test_a_task_finished_on_a_saturday_lets_the_next_one_start_on_monday(db):
    # given A (Monday-Tuesday) → B (3 days), and A is only marked done on Saturday
    org = await new_delivery_org(db)
    project = await new_project(db, org, *CHAIN)
    clock.set(datetime(2026, 6, 6, 10, tzinfo=UTC))
    a = await edit_task(db, org.pm, (await tasks_by_name(db, org, project))["A"], status=TaskStatus.DONE)
    # then the weekend holds no work: B is forecast from Monday to Wednesday
    b = (await tasks_by_name(db, org, project))["B"]
    assert a.actual_finish == date(2026, 6, 6)
    assert (b.forecast_start, b.forecast_finish) == (date(2026, 6, 8), date(2026, 6, 10))
