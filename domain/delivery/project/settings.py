"""The project manager's settings: status, dates, calendar, thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from ...shared.actor import Actor
from ...shared.bus import dispatch
from ...shared.clock import clock
from ...shared.errors import SharedErrorCode, ValidationFailed, Validator
from ...shared.payload import camel
from ...tenancy.user import get_user
from ..errors import DeliveryErrorCode
from ..events import PlanChanged
from .model import Project, ProjectStatus, add_member, load_for_write, project_event, require_manager, share_origin


@dataclass
class ProjectSettings:
    name: str | None = None
    status: ProjectStatus | None = None
    manager_id: int | None = None
    start_date: date | None = None
    deadline: date | None = None
    weekend_days: list[int] | None = None
    holidays: list[date] | None = None
    cost_margin_percent: Decimal | None = None
    spi_threshold: Decimal | None = None
    change_threshold_percent: Decimal | None = None
    description: str | None = None
    set_fields: set[str] = field(default_factory=set)


async def update_project(session: AsyncSession, actor: Actor, project_id: int, version: int,
                         data: ProjectSettings) -> Project:
    """The manager's settings: status (closing freezes time logging), dates, calendar, thresholds."""
    project = await load_for_write(session, actor, project_id, version)
    require_manager(actor, project, "change its settings")
    v = Validator()
    named = data.set_fields
    if project.is_closed and named - {"status"}:
        raise ValidationFailed.one("projectId", DeliveryErrorCode.PROJECT_CLOSED, "Reopen the project to change it.")
    if "name" in named:
        project.name = v.text("name", data.name, max_len=200, required=True)  # type: ignore[assignment]
    if "description" in named:
        project.description = v.text("description", data.description, max_len=20_000) or None
    if "manager_id" in named and data.manager_id is not None:
        manager = await get_user(session, actor.org_id, data.manager_id)
        project.manager_id = manager.id
        await add_member(session, project, manager.id)
        await share_origin(session, actor, project, manager.id)
    if "start_date" in named and data.start_date is not None:
        project.start_date = data.start_date
    if "deadline" in named:
        project.deadline = data.deadline
    if project.deadline and project.deadline < project.start_date:
        v.add("deadline", SharedErrorCode.INVALID_DATE_RANGE, "deadline is before the start date")
    if "weekend_days" in named and data.weekend_days is not None:
        days = sorted(set(data.weekend_days))
        if any(not 0 <= d <= 6 for d in days) or len(days) >= 7:
            v.add("weekendDays", SharedErrorCode.INVALID, "weekend days are 0 (Monday) to 6, leaving a working day")
        project.weekend_days = days
    if "holidays" in named and data.holidays is not None:
        if len(data.holidays) > 1000:
            v.add("holidays", SharedErrorCode.INVALID, "at most 1000 holidays")
        project.holidays = sorted({d.isoformat() for d in data.holidays})
    for key, low, high in (("cost_margin_percent", 0, 1000), ("spi_threshold", 0, 2),
                           ("change_threshold_percent", 0, 1000)):
        value = getattr(data, key)
        if key in named and value is not None:
            if not value.is_finite() or not low <= value <= high:
                v.add(camel(key), SharedErrorCode.INVALID, f"{camel(key)} is between {low} and {high}")
            else:
                setattr(project, key, value)
    if "status" in named and data.status is not None and data.status.value != project.status:
        project.status = data.status.value
        project.closed_at = clock.now() if data.status is ProjectStatus.CLOSED else None
    v.raise_if_any()
    project.version += 1
    project.updated_at = clock.now()
    await session.flush()
    if not project.is_closed:
        await dispatch(session, None, PlanChanged(project.org_id, project.id))
    project_event(session, actor, project, "project.updated", changes=sorted(camel(k) for k in named))
    return project
