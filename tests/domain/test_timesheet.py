"""Time logging and weekly timesheets: members log their own positive hours (at most 24 a day across
projects) on open projects, costed at their rate when logged; a week is submitted to the project's
manager, who approves it (never their own) or sends it back with a comment, unlocking it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.project import ProjectSettings, ProjectStatus, update_project
from tandem.domain.delivery.task import TaskStatus
from tandem.domain.delivery.timesheet import (
    TimeEntry,
    Timesheet,
    decide_timesheet,
    labor_cost,
    log_time,
    submit_timesheet,
)
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import SharedErrorCode
from tandem.domain.tenancy.user import set_cost_rate
from tests.factories.checks import count, fails
from tests.factories.delivery import (
    MONDAY,
    PLAN,
    assign_task,
    edit_task,
    new_delivery_org,
    new_project,
    outbox_topics,
    tasks_by_name,
)

TODAY = MONDAY.date()
TUESDAY = date(2026, 6, 2)
LAST_FRIDAY = date(2026, 5, 29)


@pytest.fixture(autouse=True)
def monday():
    clock.set(MONDAY)
    yield
    clock.set(None)


async def _log(db, who, task, hours, day=TODAY, note=None, **extra) -> TimeEntry:
    async with db.write() as s:
        return await log_time(s, who, task_id=task.id, work_date=day, hours=Decimal(hours), note=note, **extra)


async def _submit(db, who, project, week=TODAY) -> Timesheet:
    async with db.write() as s:
        return await submit_timesheet(s, who, project_id=project.id, week_start=week)


async def _decide(db, who, sheet, *, approve, comment=None) -> Timesheet:
    async with db.write() as s:
        return await decide_timesheet(s, who, sheet.id, approve=approve, comment=comment)


async def _staffed(db, org, *who, name="ERP 实施"):
    """A project of the pm's with its first task assigned to each of ``who`` in turn (the last keeps it)."""
    project = await new_project(db, org, *PLAN, name=name)
    task = (await tasks_by_name(db, org, project))["需求调研"]
    for person in who:
        task = await assign_task(db, org, task, person)
    return project, task


@pytest.mark.parametrize("hours", ["-1", "0", "24.01", "25", "0.001", "NaN"])
async def test_hours_outside_0_to_24_are_refused(db, hours):
    org = await new_delivery_org(db)
    _, task = await _staffed(db, org, org.dev)
    with fails(DeliveryErrorCode.INVALID_HOURS):
        await _log(db, org.dev, task, hours)
    assert await count(db, TimeEntry, TimeEntry.user_id == org.dev.user_id) == 0


async def test_a_day_holds_24_hours_across_all_projects(db):
    # given dev works on two projects and logged 10 h on each today
    org = await new_delivery_org(db)
    _, first = await _staffed(db, org, org.dev)
    _, second = await _staffed(db, org, org.dev, name="ERP 二期")
    await _log(db, org.dev, first, "10")
    await _log(db, org.dev, second, "10")
    # when 5 more hours are logged today
    with fails(DeliveryErrorCode.TOO_MANY_HOURS):
        await _log(db, org.dev, second, "5")
    # then 4 still fit, and another day is a day of its own
    await _log(db, org.dev, second, "4")
    await _log(db, org.dev, first, "24", day=LAST_FRIDAY)
    async with db.read() as s:
        totals = await labor_cost(s, [first.project_id, second.project_id])
    assert (totals[first.project_id][0], totals[second.project_id][0]) == (Decimal("34"), Decimal("14"))


async def test_a_closed_project_takes_no_time(db):
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev)
    async with db.write() as s:
        await update_project(s, org.pm, project.id, project.version,
                             ProjectSettings(status=ProjectStatus.CLOSED, set_fields={"status"}))
    with fails(DeliveryErrorCode.PROJECT_CLOSED):
        await _log(db, org.dev, task, "2")


async def test_only_project_members_log_time(db):
    # given dev works on the project; dev2 and the deal's sales rep do not
    org = await new_delivery_org(db)
    _, task = await _staffed(db, org, org.dev)
    for outsider in (org.dev2, org.rep):
        with fails(DeliveryErrorCode.NOT_PROJECT_MEMBER):
            await _log(db, outsider, task, "1")
    # and the project's manager, a member from the start, may
    entry = await _log(db, org.pm, task, "1")
    assert entry.user_id == org.pm.user_id


async def test_someone_once_assigned_stays_a_member(db):
    org = await new_delivery_org(db)
    _, task = await _staffed(db, org, org.dev, org.dev2)
    assert (await _log(db, org.dev, task, "1")).task_id == task.id


async def test_time_is_costed_at_the_rate_when_logged(db):
    # given dev costs 200 an hour
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev, org.lead)
    first = await _log(db, org.dev, task, "7.5", note="客户访谈")
    # when finance raises the rate to 250
    async with db.write() as s:
        await set_cost_rate(s, org.finance, org.dev.user_id, Decimal("250"))
    second = await _log(db, org.dev, task, "2", day=LAST_FRIDAY)
    # and lead, who has no rate, logs time too
    third = await _log(db, org.lead, task, "3")
    # then each entry keeps the cost of its day
    assert [(e.hours, e.cost, e.currency) for e in (first, second, third)] == [
        (Decimal("7.5"), Decimal("1500.00"), "CNY"), (Decimal("2"), Decimal("500.00"), "CNY"),
        (Decimal("3"), Decimal("0.00"), "CNY")]
    async with db.read() as s:
        assert (await labor_cost(s, [project.id]))[project.id] == (Decimal("12.5"), Decimal("2000.00"))


async def test_logging_time_starts_the_task_and_the_project(db):
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev)
    await _log(db, org.dev, task, "3", day=TUESDAY)
    after = (await tasks_by_name(db, org, project))["需求调研"]
    assert (after.status, after.actual_start) == ("in_progress", TUESDAY)
    assert await outbox_topics(db, org, "time.logged") == [("time.logged", "Task", task.id)]


async def test_time_cannot_be_logged_ahead_or_on_a_cancelled_task(db):
    org = await new_delivery_org(db)
    _, task = await _staffed(db, org, org.dev)
    with fails(SharedErrorCode.INVALID_DATE_RANGE):
        await _log(db, org.dev, task, "1", day=date(2026, 6, 3))
    await edit_task(db, org.pm, task, status=TaskStatus.CANCELLED)
    with fails(SharedErrorCode.INVALID_STATE):
        await _log(db, org.dev, task, "1")


async def test_a_task_named_with_another_project_is_refused(db):
    org = await new_delivery_org(db)
    _, task = await _staffed(db, org, org.dev)
    other, _ = await _staffed(db, org, org.dev, name="ERP 二期")
    with fails(DeliveryErrorCode.TASK_OUTSIDE_PROJECT):
        await _log(db, org.dev, task, "1", project_id=other.id)


async def test_a_submitted_week_is_locked(db):
    # given dev logged Monday and submits the week (naming any day of it)
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev)
    await _log(db, org.dev, task, "8")
    sheet = await _submit(db, org.dev, project, week=date(2026, 6, 7))
    assert (sheet.week_start, sheet.status, sheet.hours, sheet.cost) == (
        TODAY, "submitted", Decimal("8"), Decimal("1600.00"))
    # then no more time goes into that week, nor is it submitted twice
    with fails(DeliveryErrorCode.TIMESHEET_LOCKED):
        await _log(db, org.dev, task, "1", day=TUESDAY)
    with fails(DeliveryErrorCode.TIMESHEET_LOCKED):
        await _submit(db, org.dev, project)
    # but the week before is open
    await _log(db, org.dev, task, "1", day=LAST_FRIDAY)
    async with db.read() as s:
        statuses = sorted((e.work_date, e.status) for e in await s.scalars(
            select(TimeEntry).where(TimeEntry.project_id == project.id)))
    assert statuses == [(LAST_FRIDAY, "draft"), (TODAY, "submitted")]


async def test_a_week_with_nothing_logged_cannot_be_submitted(db):
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev)
    await _log(db, org.dev, task, "8", day=LAST_FRIDAY)
    with fails(DeliveryErrorCode.NOTHING_TO_SUBMIT):
        await _submit(db, org.dev, project)
    assert await count(db, Timesheet, Timesheet.project_id == project.id) == 0


async def test_only_the_project_manager_approves_a_week(db):
    # given dev submitted a week
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev2, org.dev)
    await _log(db, org.dev, task, "8")
    sheet = await _submit(db, org.dev, project)
    # then another member, another project manager or finance cannot approve it
    for who in (org.dev2, org.pm2, org.finance):
        with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
            await _decide(db, who, sheet, approve=True)
    # when its manager approves
    approved = await _decide(db, org.pm, sheet, approve=True, comment="辛苦了")
    # then the week and its entries are approved, and stay locked
    assert (approved.status, approved.decided_by_id, approved.decided_at, approved.comment) == (
        "approved", org.pm.user_id, MONDAY, "辛苦了")
    async with db.read() as s:
        assert [e.status for e in await s.scalars(select(TimeEntry).where(TimeEntry.timesheet_id == sheet.id))] == [
            "approved"]
    with fails(DeliveryErrorCode.TIMESHEET_LOCKED):
        await _log(db, org.dev, task, "1", day=TUESDAY)
    with fails(SharedErrorCode.INVALID_STATE):
        await _decide(db, org.pm, sheet, approve=True)
    assert await outbox_topics(db, org, "timesheet.submitted", "timesheet.approved") == [
        ("timesheet.submitted", "Timesheet", sheet.id), ("timesheet.approved", "Timesheet", sheet.id)]


async def test_nobody_approves_their_own_week(db):
    # given the project manager logged time on their own project and submitted it
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.pm)
    await _log(db, org.pm, task, "6")
    sheet = await _submit(db, org.pm, project)
    # then they cannot approve it
    with fails(SharedErrorCode.SELF_APPROVAL):
        await _decide(db, org.pm, sheet, approve=True)
    # but an admin can
    assert (await _decide(db, org.admin, sheet, approve=True)).status == "approved"


@pytest.mark.parametrize("comment", [None, "", "   "])
async def test_sending_a_week_back_needs_a_comment(db, comment):
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev)
    await _log(db, org.dev, task, "8")
    sheet = await _submit(db, org.dev, project)
    with fails(SharedErrorCode.REASON_REQUIRED):
        await _decide(db, org.pm, sheet, approve=False, comment=comment)
    async with db.read() as s:
        assert (await s.get(Timesheet, sheet.id)).status == "submitted"


async def test_a_week_sent_back_is_open_again_and_can_be_resubmitted(db):
    # given dev's submitted week of 8 h
    org = await new_delivery_org(db)
    project, task = await _staffed(db, org, org.dev)
    await _log(db, org.dev, task, "8")
    sheet = await _submit(db, org.dev, project)
    # when the manager sends it back
    rejected = await _decide(db, org.pm, sheet, approve=False, comment="周二的工时漏填了")
    assert (rejected.status, rejected.comment) == ("rejected", "周二的工时漏填了")
    # then dev may add time to the week and submit it again, with everything in it
    await _log(db, org.dev, task, "4", day=TUESDAY)
    again = await _submit(db, org.dev, project)
    assert (again.id, again.status, again.hours, again.cost, again.comment, again.decided_by_id) == (
        sheet.id, "submitted", Decimal("12"), Decimal("2400.00"), None, None)
    async with db.read() as s:
        assert sorted(e.status for e in await s.scalars(select(TimeEntry).where(
            TimeEntry.project_id == project.id))) == ["submitted", "submitted"]
