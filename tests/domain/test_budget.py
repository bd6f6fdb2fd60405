"""Budget control with a frozen clock: actual cost is labor (hours × the rate when logged) plus
expenses; earned value compares it with the work done (EV = budget × percent complete) and the work
the baseline planned by today (PV); a forecast cost (EAC) over the budget's margin is a cost risk."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tandem.domain.delivery.budget import Expense, add_expense, cost_figures
from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.project import Project, ProjectSettings, TemplateTask, update_project
from tandem.domain.delivery.task import TaskStatus
from tandem.domain.delivery.timesheet import log_time
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import SharedErrorCode
from tandem.domain.tenancy.user import set_cost_rate
from tests.factories.checks import count, fails
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

TWO_WEEKS = (
    TemplateTask("design", "设计", 5, Decimal(40)),
    TemplateTask("build", "实施", 5, Decimal(40), ["design"]),
)
"""设计 Monday 1 – Friday 5 June, 实施 Monday 8 – Friday 12 June (the baseline)."""


@pytest.fixture(autouse=True)
def monday():
    clock.set(MONDAY)
    yield
    clock.set(None)


def clock_at(day: date, hour: int = 18) -> None:
    clock.set(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))


async def _figures(db, project):
    async with db.read() as s:
        return await cost_figures(s, await s.get(Project, project.id))


async def _expense(db, who, project, amount, day=None, description="现场差旅"):
    async with db.write() as s:
        return await add_expense(s, who, project_id=project.id, amount=Decimal(amount) if amount else None,
                                 spent_on=day, category="travel", description=description)


async def _log(db, who, task, day, hours="8"):
    clock_at(day)
    async with db.write() as s:
        await log_time(s, who, task_id=task.id, work_date=day, hours=Decimal(hours), note=None)


async def test_before_any_work_nothing_is_earned_or_spent(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *TWO_WEEKS, amount="100000")
    f = await _figures(db, project)
    assert (f.budget, f.actual_cost, f.planned_value, f.earned_value) == (
        Decimal("100000.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    assert (f.cpi, f.spi, f.estimate_at_completion, f.variance_at_completion) == (
        None, None, Decimal("100000"), Decimal("0.00"))
    assert (f.cost_risk, f.schedule_risk) == (False, False)


async def test_earned_value_figures_on_a_known_day(db):
    # given a 100,000 budget, dev at 1,000 an hour on both tasks
    org = await new_delivery_org(db)
    project = await new_project(db, org, *TWO_WEEKS, amount="100000")
    async with db.write() as s:
        await set_cost_rate(s, org.finance, org.dev.user_id, Decimal("1000"))
    plan = await tasks_by_name(db, org, project)
    design, build = await assign_task(db, org, plan["设计"], org.dev), await assign_task(db, org, plan["实施"], org.dev)
    # the first week: 40 h on the design, done on Friday
    for n in range(5):
        await _log(db, org.dev, design, MONDAY.date() + timedelta(days=n))
    design = (await tasks_by_name(db, org, project))["设计"]
    await edit_task(db, org.dev, design, status=TaskStatus.DONE)
    # then Monday and Tuesday: 16 h on the build, half done, and 24,000 of expenses
    for day in (date(2026, 6, 8), date(2026, 6, 9)):
        await _log(db, org.dev, build, day)
    build = (await tasks_by_name(db, org, project))["实施"]
    await edit_task(db, org.dev, build, percent_complete=50)
    await _expense(db, org.pm, project, "24000", date(2026, 6, 9))
    # when the figures are read on Wednesday morning
    clock_at(date(2026, 6, 10), 9)
    f = await _figures(db, project)
    # then PV: the design and 2 of the build's 5 days; EV: 75 % done; AC: 56 h × 1,000 + 24,000
    assert (f.labor_hours, f.labor_cost, f.expenses, f.actual_cost) == (
        Decimal("56"), Decimal("56000.00"), Decimal("24000.00"), Decimal("80000.00"))
    assert (f.planned_percent, f.planned_value) == (Decimal("70.00"), Decimal("70000.00"))
    assert (f.percent_complete, f.earned_value) == (Decimal("75.00"), Decimal("75000.00"))
    assert (f.cpi, f.spi) == (Decimal("0.94"), Decimal("1.07"))
    assert (f.estimate_at_completion, f.variance_at_completion) == (Decimal("106666.67"), Decimal("-6666.67"))
    assert (f.cost_risk, f.schedule_risk) == (False, False)

    # when another 20,000 is spent: EAC 133,333.33 passes the budget + 10 % margin
    # (Tuesday's 56 h against the design alone had been a risk too, cleared when the build reported 50 %)
    warned = await outbox_topics(db, org, "project.cost_risk")
    assert warned == [("project.cost_risk", "Project", project.id)]
    await _expense(db, org.pm, project, "20000", date(2026, 6, 10))
    f = await _figures(db, project)
    assert (f.actual_cost, f.cpi, f.estimate_at_completion) == (
        Decimal("100000.00"), Decimal("0.75"), Decimal("133333.33"))
    assert f.cost_risk
    # then the project manager is warned once, not again on the next expense
    await _expense(db, org.pm, project, "100", date(2026, 6, 10))
    assert await outbox_topics(db, org, "project.cost_risk") == [*warned, ("project.cost_risk", "Project", project.id)]
    assert (await reload_project(db, project)).cost_risk is True


async def test_a_wider_margin_is_no_cost_risk(db):
    # given a project allowed to run 50 % over, that spent 80 % of its budget with nothing done
    org = await new_delivery_org(db)
    project = await new_project(db, org, *TWO_WEEKS, amount="100000")
    async with db.write() as s:
        await update_project(s, org.pm, project.id, project.version, ProjectSettings(
            cost_margin_percent=Decimal(50), set_fields={"cost_margin_percent"}))
    await _expense(db, org.pm, project, "80000")
    # then nothing is earned: EAC is the budget
    f = await _figures(db, project)
    assert (f.cpi, f.estimate_at_completion, f.cost_risk) == (Decimal("0.00"), Decimal("100000"), False)
    # and 150,000.01 spent is over the margin
    await _expense(db, org.pm, project, "70000.01")
    assert (await _figures(db, project)).cost_risk


async def test_work_on_plan_across_a_weekend_is_no_schedule_risk(db):
    # given a kick-off Monday to Wednesday, then the work Thursday to the next Wednesday
    org = await new_delivery_org(db)
    project = await new_project(db, org, TemplateTask("kickoff", "启动", 3, Decimal(24)),
                                TemplateTask("work", "实施", 5, Decimal(40), ["kickoff"]), amount="100000")
    plan = await tasks_by_name(db, org, project)
    assert (plan["实施"].baseline_start, plan["实施"].baseline_finish) == (date(2026, 6, 4), date(2026, 6, 10))
    # when on Monday morning the kick-off is done and the work is 2 of its 5 days along
    clock_at(date(2026, 6, 3))
    await edit_task(db, org.pm, plan["启动"], status=TaskStatus.DONE)
    clock_at(date(2026, 6, 5))
    await edit_task(db, org.pm, plan["实施"], percent_complete=40)
    clock_at(date(2026, 6, 8), 9)
    f = await _figures(db, project)
    # then the plan called for exactly that: the weekend is no working time
    assert (f.planned_percent, f.planned_value, f.earned_value) == (
        Decimal("62.50"), Decimal("62500.00"), Decimal("62500.00"))
    assert (f.spi, f.schedule_risk) == (Decimal("1.00"), False)
    # and the same holds on the Saturday in between
    clock_at(date(2026, 6, 6), 9)
    assert (await _figures(db, project)).planned_percent == Decimal("62.50")


async def test_falling_behind_the_plan_is_a_schedule_risk(db):
    # given nothing was done in the first week and a half
    org = await new_delivery_org(db)
    project = await new_project(db, org, *TWO_WEEKS, amount="100000")
    # when the project is rescheduled on Wednesday of the second week
    clock_at(date(2026, 6, 10), 9)
    plan = await tasks_by_name(db, org, project)
    await edit_task(db, org.pm, plan["设计"], percent_complete=10)
    # then SPI = EV / PV = 5,000 / 70,000 and the manager is warned
    f = await _figures(db, project)
    assert (f.earned_value, f.planned_value, f.spi, f.schedule_risk) == (
        Decimal("5000.00"), Decimal("70000.00"), Decimal("0.07"), True)
    assert await outbox_topics(db, org, "project.schedule_risk") == [("project.schedule_risk", "Project", project.id)]


async def test_only_the_project_manager_records_expenses(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *TWO_WEEKS)
    for who in (org.dev, org.finance, org.pm2):
        with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
            await _expense(db, who, project, "100")
    assert await count(db, Expense, Expense.project_id == project.id) == 0


@pytest.mark.parametrize(("amount", "day", "code"), [
    (None, None, SharedErrorCode.REQUIRED),
    ("0", None, SharedErrorCode.INVALID_AMOUNT),
    ("-5", None, SharedErrorCode.INVALID_AMOUNT),
    ("100", date(2026, 6, 2), SharedErrorCode.INVALID_DATE_RANGE),
])
async def test_an_expense_is_a_positive_amount_spent_by_today(db, amount, day, code):
    org = await new_delivery_org(db)
    project = await new_project(db, org, *TWO_WEEKS)
    with fails(code):
        await _expense(db, org.pm, project, amount, day)
    assert await count(db, Expense, Expense.project_id == project.id) == 0
