"""Workflow rules the clock starts, run by the scheduler's pass (``run_workflow_schedules``, tandem/scheduler.py)
with the time it is given:

- DATE_RELATIVE {dateField, offsetHours}: once for each record whose date field plus the offset (negative:
  before) falls in the time since the rule's last pass ("3 days before expectedCloseDate": -72). The date
  may be one the database derives (``derived_dates``: "30 days since lastInteractionAt": 720), so a
  customer is reminded of once per quiet period: an interaction moves the date, and the next reminder;
- SCHEDULED {cron, timeZone}: at the times a five-field cron (minute hour day month weekday, in the rule's
  IANA time zone, UTC by default) names, once per pass however many of them it missed, on every record of
  the type its conditions select.

Each pass covers the time from where the last one stopped (``checked_until``) to now, so nothing fires twice
and a pass that was missed is made up (up to a week: ``rule_cron.CATCH_UP``). Runs and actions are as for
event triggers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .conditions import attribute
from .derived_dates import derived_date
from .rule import Trigger, WorkflowRule, WorkflowRun
from .rule_cron import CATCH_UP, cron_due
from .rule_engine import Reads, catalog, run_rule, runnable

MAX_RECORDS = 1000
"""Records one rule runs on in one pass (the oldest first); the rest wait for the next pass."""
def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    return None


async def _date_relative(session: AsyncSession, rules: list[WorkflowRule], model: Any, after: datetime,
                         until: datetime) -> dict[int, list[Any]]:
    """The records, by org, whose date plus the offset falls in (after, until]: for rules of one record type
    with the same date, offset and window (every org's copy of a built-in rule), one query for them all."""
    options = rules[0].trigger_options or {}
    column = derived_date(rules[0].object_type, options.get("dateField"))
    if column is None:
        attr = attribute(model, options.get("dateField", ""))
        if attr is None:
            raise ValueError("no such date field")
        column = getattr(model, attr)
    offset = timedelta(hours=float(options.get("offsetHours") or 0))
    low, high = after - offset, until - offset
    if isinstance(column.type, Date):
        window = column.between(low.date(), high.date())
    else:
        window = (column > low) & (column <= high)
    orgs = {r.org_id for r in rules}
    stmt = select(model, column).where(model.org_id.in_(orgs), window)
    if hasattr(model, "archived_at"):  # archived records have left the lists: nobody is reminded of them
        stmt = stmt.where(model.archived_at.is_(None))
    rows = await session.execute(stmt.order_by(model.org_id, model.id).limit(MAX_RECORDS * len(orgs)))
    out: dict[int, list[Any]] = {}
    for row, value in rows:
        moment = _moment(value)
        mine = out.setdefault(row.org_id, [])
        if moment is not None and after < moment + offset <= until and len(mine) < MAX_RECORDS:
            mine.append(row)
    return out


async def _dated_records(session: AsyncSession, rules: list[tuple[WorkflowRule, datetime]], models: dict[str, Any],
                         now: datetime) -> dict[int, list[Any]]:
    """Each DATE_RELATIVE rule's records due in its window, by rule id, read one query per alike rules."""
    alike: dict[tuple[Any, ...], list[WorkflowRule]] = {}
    for rule, after in rules:
        options = rule.trigger_options or {}
        key = (rule.object_type, options.get("dateField"), options.get("offsetHours"), after)
        alike.setdefault(key, []).append(rule)
    found: dict[int, list[Any]] = {}
    for (object_type, _, _, after), group in alike.items():
        try:
            by_org = await _date_relative(session, group, models[object_type], after, now)
        except (ValueError, AttributeError):
            by_org = {}  # a rule saved with options this pass cannot read is skipped, not fatal
        for rule in group:
            found[rule.id] = by_org.get(rule.org_id, [])
    return found


async def run_workflow_schedules(session: AsyncSession, now: datetime) -> int:
    """One pass over every org's enabled DATE_RELATIVE and SCHEDULED rules; how many runs it recorded.
    The caller settles and commits (the scheduler)."""
    cat = catalog()
    rules = list(await session.scalars(select(WorkflowRule).where(
        WorkflowRule.enabled.is_(True), WorkflowRule.trigger.in_([Trigger.DATE_RELATIVE, Trigger.SCHEDULED]))
        .order_by(WorkflowRule.org_id, WorkflowRule.position, WorkflowRule.id)))
    due: list[tuple[WorkflowRule, datetime]] = []
    for rule in rules:
        after = max(rule.checked_until or rule.updated_at, now - CATCH_UP)
        if rule.object_type in cat.models and after < now:
            due.append((rule, after))
    dated = await _dated_records(session, [(r, a) for r, a in due if r.trigger == Trigger.DATE_RELATIVE],
                                 cat.models, now)
    runs: list[dict[str, Any]] = []
    for rule, after in due:
        model = cat.models[rule.object_type]
        records = dated.get(rule.id, [])
        if rule.trigger == Trigger.SCHEDULED:
            options = rule.trigger_options or {}
            try:
                fires = cron_due(options.get("cron", ""), options.get("timeZone"), after, now)
            except (ValueError, AttributeError):
                fires = False  # a rule saved with options this pass cannot read is skipped, not fatal
            records = list(await session.scalars(select(model).where(model.org_id == rule.org_id)
                                                 .order_by(model.id).limit(MAX_RECORDS))) if fires else []
        reads = Reads()
        spec = runnable(rule)
        for record in records:
            run = await run_rule(session, cat, reads, spec, rule.object_type, record, {}, None, 0)
            if run is not None:
                runs.append(run)
    if due:
        await session.execute(update(WorkflowRule).where(WorkflowRule.id.in_([r.id for r, _ in due]))
                              .values(checked_until=now).execution_options(synchronize_session=False))
    if runs:
        await session.execute(WorkflowRun.__table__.insert(), runs)
    return len(runs)
