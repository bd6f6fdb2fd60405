"""Budget control: expenses, and budget against actual cost (labor at cost rates + expenses) with
earned-value figures:

    BAC  budget at completion          PV  BAC × the share of planned work due by today (baseline)
    EV   BAC × percent complete        AC  labor cost + expenses
    CPI  EV ÷ AC    SPI  EV ÷ PV      EAC  BAC ÷ CPI (AC when nothing is earned yet)

A forecast cost (EAC) above the budget by more than the project's margin is a cost risk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, MoneyType, pk
from ..shared.bus import dispatch
from ..shared.clock import clock
from ..shared.errors import SharedErrorCode, Validator
from ..shared.money import check_amount, quantize
from ..shared.rows import group_by
from .calendar import WorkCalendar
from .events import ExpenseAdded
from .project import Project, calendar_of, load_for_write, require_manager, require_open
from .task import Task, TaskStatus
from .timesheet import labor_cost

HUNDRED = Decimal(100)
MIN_PLANNED_FOR_SPI = Decimal(10)


class Expense(Base):
    __tablename__ = "expense"
    __table_args__ = (Index("ix_expense_project", "project_id", "spent_on"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    spent_on: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(500))
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    created_at: Mapped[datetime]


@dataclass
class CostFigures:
    currency: str
    budget: Decimal
    labor_hours: Decimal
    labor_cost: Decimal
    expenses: Decimal
    actual_cost: Decimal
    percent_complete: Decimal
    planned_percent: Decimal
    planned_value: Decimal
    earned_value: Decimal
    cpi: Decimal | None
    spi: Decimal | None
    estimate_at_completion: Decimal
    variance_at_completion: Decimal
    cost_risk: bool
    schedule_risk: bool


async def add_expense(session: AsyncSession, actor: Actor, *, project_id: int, amount: Decimal | None,
                      spent_on: date | None, category: str | None, description: str | None) -> Expense:
    project = await load_for_write(session, actor, project_id)
    require_manager(actor, project, "record its expenses")
    require_open(project)
    v = Validator()
    if amount is None:
        v.add("amount", SharedErrorCode.REQUIRED, "amount is required")
    amount = check_amount(v, "amount", amount, project.currency)
    if amount is not None and amount <= 0:
        v.add("amount", SharedErrorCode.INVALID_AMOUNT, "an expense is a positive amount")
    category = v.text("category", category or "other", max_len=40, required=True)
    description = v.text("description", description, max_len=500, required=True)
    day = spent_on or clock.now().date()
    if day > clock.now().date():
        v.add("spentOn", SharedErrorCode.INVALID_DATE_RANGE, "spentOn is in the future")
    v.raise_if_any()
    expense = Expense(org_id=actor.org_id, project_id=project.id, amount=amount, currency=project.currency,
                      spent_on=day, category=category, description=description, created_by_id=actor.user_id,
                      created_at=clock.now())
    session.add(expense)
    await session.flush()
    await dispatch(session, actor, ExpenseAdded(project.org_id, project.id, expense.id))
    return expense


def planned_percent(tasks: list[Task], today: date, cal: WorkCalendar) -> Decimal:
    """The share of the work the baseline planned to be done before ``today`` starts, weighted like
    progress and counted in the project's working days (a task planned from Monday to Friday is 40 %
    due on Wednesday morning; one from Thursday to Wednesday is 40 % due on Monday morning)."""
    leaves = [t for t in tasks if not t.is_summary and t.status != TaskStatus.CANCELLED]
    if not leaves:
        return Decimal(0)
    by_hours = any(t.estimate_hours for t in leaves)
    total = planned = Decimal(0)
    for t in leaves:
        weight = t.estimate_hours if by_hours else Decimal(t.duration_days or 1)
        total += weight
        start, finish = t.baseline_start, t.baseline_finish
        if start is None or finish is None or today <= start:
            continue
        if today > finish:
            planned += weight
        else:
            span = max(cal.working_days_between(start, finish), 1)
            done = min(max(cal.index_of(today) - cal.index_of(start), 0), span)
            planned += weight * Decimal(done) / Decimal(span)
    return (planned * HUNDRED / total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if total else Decimal(0)


def _ratio(a: Decimal, b: Decimal) -> Decimal | None:
    return (a / b).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if b else None


async def _expense_totals(session: AsyncSession, project_ids: list[int]) -> dict[int, Decimal]:
    rows = await session.execute(select(Expense.project_id,
                                        type_coerce(func.coalesce(func.sum(Expense.amount), 0), MoneyType()))
                                 .where(Expense.project_id.in_(project_ids)).group_by(Expense.project_id))
    return dict(rows.all())


async def cost_figures(session: AsyncSession, project: Project, tasks: list[Task] | None = None,
                       today: date | None = None) -> CostFigures:
    if tasks is None:
        tasks = list(await session.scalars(select(Task).where(Task.project_id == project.id)))
    labor = await labor_cost(session, [project.id])
    return _figures(project, tasks, labor.get(project.id), (await _expense_totals(session, [project.id])).get(
        project.id), today or clock.now().date())


async def costs_of(session: AsyncSession, projects: list[Project]) -> dict[int, CostFigures]:
    """The figures of many projects in three queries (tasks, labor, expenses), not three per project."""
    ids = [p.id for p in projects]
    tasks = group_by(ids, await session.scalars(select(Task).where(Task.project_id.in_(ids))),
                     lambda t: t.project_id)
    labor = await labor_cost(session, ids)
    expenses = await _expense_totals(session, ids)
    today = clock.now().date()
    return {p.id: _figures(p, tasks[p.id], labor.get(p.id), expenses.get(p.id), today) for p in projects}


def _figures(project: Project, tasks: list[Task], labor_row: tuple[Decimal, Decimal] | None,
             expenses: Decimal | None, today: date) -> CostFigures:
    hours, labor = labor_row or (Decimal(0), Decimal(0))
    expenses = expenses or Decimal(0)
    currency = project.currency
    bac = project.budget
    actual = labor + expenses
    planned_pct = planned_percent(tasks, today, calendar_of(project))
    pv = quantize(bac * planned_pct / HUNDRED, currency)
    ev = quantize(bac * project.percent_complete / HUNDRED, currency)
    cpi, spi = _ratio(ev, actual), _ratio(ev, pv)
    eac = quantize(bac / (ev / actual), currency) if ev and actual else max(actual, bac)
    margin = bac * (HUNDRED + project.cost_margin_percent) / HUNDRED
    return CostFigures(
        currency=currency, budget=quantize(bac, currency), labor_hours=hours, labor_cost=quantize(labor, currency),
        expenses=quantize(expenses, currency), actual_cost=quantize(actual, currency),
        percent_complete=project.percent_complete, planned_percent=planned_pct, planned_value=pv, earned_value=ev,
        cpi=cpi, spi=spi, estimate_at_completion=eac, variance_at_completion=quantize(bac - eac, currency),
        cost_risk=eac > margin,
        # SPI says little before a tenth of the work was due: judge it from there on.
        schedule_risk=spi is not None and planned_pct >= MIN_PLANNED_FOR_SPI and spi < project.spi_threshold,
    )


async def expenses_of(session: AsyncSession, actor: Actor, project_ids: list[int]) -> dict[int, list[Expense]]:
    rows = await session.scalars(select(Expense).where(Expense.org_id == actor.org_id,
                                                       Expense.project_id.in_(project_ids))
                                 .order_by(Expense.spent_on, Expense.id))
    return group_by(project_ids, rows, lambda r: r.project_id)


def figures_payload(f: CostFigures) -> dict[str, Any]:
    return {"budget": str(f.budget), "actualCost": str(f.actual_cost), "cpi": str(f.cpi) if f.cpi else None,
            "spi": str(f.spi) if f.spi else None, "estimateAtCompletion": str(f.estimate_at_completion)}
