"""Change requests: a scope, budget or schedule change with its reason. The project manager
approves (never their own request); a budget change larger than the project's threshold (percent of
the budget) also needs a sales manager. An approved change moves the budget and the deadline and is
kept, with every decision, in the project's history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.clock import clock
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import check_amount, quantize
from ..shared.rows import group_by
from ..tenancy.user import User, managers_of
from .errors import DeliveryErrorCode
from .progress import reschedule
from .project import Project, add_working_days, load_for_write, project_event, require_open

HUNDRED = Decimal(100)
MAX_SCHEDULE_DELTA = 3650


class ChangeStatus(StrEnum):
    PENDING_MANAGER = "pending_manager"
    """Waiting for the project manager."""
    PENDING_SALES = "pending_sales"
    """Approved by the project manager, waiting for a sales manager (over the threshold)."""
    APPROVED = "approved"
    REJECTED = "rejected"


class ChangeRequest(Base):
    __tablename__ = "change_request"

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("project.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    scope_change: Mapped[str | None] = mapped_column(Text, nullable=True)
    budget_delta: Mapped[Decimal]
    schedule_delta_days: Mapped[int] = mapped_column(Integer, default=0)
    """Working days the deadline moves (negative: earlier)."""
    needs_sales_approval: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20))
    requested_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    requested_at: Mapped[datetime]
    manager_decided_by_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    manager_decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sales_decided_by_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    sales_decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    budget_before: Mapped[Decimal | None] = mapped_column(nullable=True)
    deadline_before: Mapped[date | None] = mapped_column(Date, nullable=True)
    deadline_after: Mapped[date | None] = mapped_column(Date, nullable=True)


async def _sales_managers(session: AsyncSession, project: Project) -> list[int]:
    """Who decides next: the nearest sales manager above the deal's owner, else every sales manager."""
    users = {u.id: u for u in await session.scalars(select(User).where(User.org_id == project.org_id,
                                                                       User.active.is_(True)))}
    holders = [uid for uid, u in users.items() if "sales_manager" in u.roles]
    chain = [uid for uid in await managers_of(session, project.org_id, project.sales_owner_id) if uid in holders]
    return chain[:1] or sorted(holders)[:50]


def change_payload(c: ChangeRequest, currency: str) -> dict[str, Any]:
    return {"id": c.id, "title": c.title, "reason": c.reason, "status": c.status,
            "budgetDelta": str(quantize(c.budget_delta, currency)), "scheduleDeltaDays": c.schedule_delta_days,
            "needsSalesApproval": c.needs_sales_approval, "requestedById": c.requested_by_id}


async def request_change(session: AsyncSession, actor: Actor, *, project_id: int, title: str | None,
                         reason: str | None, scope_change: str | None, budget_delta: Decimal | None,
                         schedule_delta_days: int | None) -> ChangeRequest:
    project = await load_for_write(session, actor, project_id)
    require_open(project)
    v = Validator()
    title = v.text("title", title, max_len=200, required=True)
    reason = v.text("reason", reason, max_len=10_000, required=True)
    scope_change = v.text("scopeChange", scope_change, max_len=10_000)
    delta = check_amount(v, "budgetDelta", budget_delta if budget_delta is not None else Decimal(0),
                         project.currency, allow_negative=True)
    days = schedule_delta_days or 0
    if not -MAX_SCHEDULE_DELTA <= days <= MAX_SCHEDULE_DELTA:
        v.add("scheduleDeltaDays", SharedErrorCode.INVALID, f"scheduleDeltaDays is within ±{MAX_SCHEDULE_DELTA}")
    if not delta and not days and not scope_change:
        v.add("budgetDelta", SharedErrorCode.REQUIRED, "a change moves the budget, the schedule or the scope")
    v.raise_if_any()
    assert delta is not None
    if project.budget + delta < 0:
        raise ValidationFailed.one("budgetDelta", SharedErrorCode.INVALID_AMOUNT, "The budget cannot go below 0.")
    threshold = project.budget * project.change_threshold_percent / HUNDRED
    change = ChangeRequest(org_id=actor.org_id, project_id=project.id, title=title, reason=reason,
                           scope_change=scope_change or None, budget_delta=delta, schedule_delta_days=days,
                           needs_sales_approval=abs(delta) > threshold, status=ChangeStatus.PENDING_MANAGER.value,
                           requested_by_id=actor.user_id, requested_at=clock.now())
    session.add(change)
    await session.flush()
    project_event(session, actor, project, "change.requested", operation="create", record=("ChangeRequest", change.id),
                  audience=[project.manager_id], change=change_payload(change, project.currency))
    return change


async def _load(session: AsyncSession, actor: Actor, change_id: int) -> tuple[ChangeRequest, Project]:
    change = await session.scalar(lock_for_update(session, select(ChangeRequest).where(
        ChangeRequest.org_id == actor.org_id, ChangeRequest.id == change_id)))
    if change is None:
        raise NotFound("ChangeRequest", change_id)
    project = await load_for_write(session, actor, change.project_id)
    return change, project


def _check_decider(actor: Actor, change: ChangeRequest, project: Project) -> str:
    """Which step the actor decides: the manager's, or the sales manager's."""
    if actor.user_id == change.requested_by_id:
        raise ValidationFailed.one("id", SharedErrorCode.SELF_APPROVAL, "You cannot decide your own change request.")
    if change.status == ChangeStatus.PENDING_MANAGER:
        if actor.user_id != project.manager_id and not actor.has_role("admin"):
            raise ValidationFailed.one("id", DeliveryErrorCode.NOT_PROJECT_MANAGER,
                                       "The project's manager decides this change first.")
        return "manager"
    if change.status == ChangeStatus.PENDING_SALES:
        if not actor.has_role("sales_manager", "admin"):
            raise ValidationFailed.one("id", SharedErrorCode.WRONG_APPROVER_ROLE,
                                       "A change this large also needs a sales manager.")
        if actor.user_id == change.manager_decided_by_id:
            raise ValidationFailed.one("id", SharedErrorCode.SELF_APPROVAL, "A second approver must decide it.")
        return "sales"
    raise ValidationFailed.one("id", SharedErrorCode.INVALID_STATE, f"The change request is {change.status}.")


async def approve_change(session: AsyncSession, actor: Actor, change_id: int, *, comment: str | None) -> ChangeRequest:
    change, project = await _load(session, actor, change_id)
    require_open(project)
    step = _check_decider(actor, change, project)
    v = Validator()
    comment = v.text("comment", comment, max_len=1000)
    v.raise_if_any()
    now = clock.now()
    if step == "manager":
        change.manager_decided_by_id, change.manager_decided_at = actor.user_id, now
    else:
        change.sales_decided_by_id, change.sales_decided_at = actor.user_id, now
    change.decision_comment = comment or change.decision_comment
    if step == "manager" and change.needs_sales_approval:
        change.status = ChangeStatus.PENDING_SALES.value
        await session.flush()
        project_event(session, actor, project, "change.manager_approved", record=("ChangeRequest", change.id),
                      audience=await _sales_managers(session, project), change=change_payload(change, project.currency))
        return change
    change.status = ChangeStatus.APPROVED.value
    change.budget_before, change.deadline_before = project.budget, project.deadline or project.planned_finish
    project.budget = project.budget + change.budget_delta
    if change.schedule_delta_days and change.deadline_before is not None:
        project.deadline = add_working_days(project, change.deadline_before, change.schedule_delta_days)
        if project.planned_finish is not None:
            project.planned_finish = add_working_days(project, project.planned_finish, change.schedule_delta_days)
    change.deadline_after = project.deadline
    project.version += 1
    project.updated_at = now
    await session.flush()
    project_event(session, actor, project, "change.approved", record=("ChangeRequest", change.id),
                  audience=[change.requested_by_id], change=change_payload(change, project.currency),
                  budgetBefore=str(quantize(change.budget_before, project.currency)))
    await reschedule(session, project, actor=actor)
    return change


async def reject_change(session: AsyncSession, actor: Actor, change_id: int, *, reason: str | None) -> ChangeRequest:
    change, project = await _load(session, actor, change_id)
    step = _check_decider(actor, change, project)
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the change is rejected.")
    now = clock.now()
    if step == "manager":
        change.manager_decided_by_id, change.manager_decided_at = actor.user_id, now
    else:
        change.sales_decided_by_id, change.sales_decided_at = actor.user_id, now
    change.status, change.decision_comment = ChangeStatus.REJECTED.value, reason
    await session.flush()
    project_event(session, actor, project, "change.rejected", record=("ChangeRequest", change.id),
                  audience=[change.requested_by_id], change=change_payload(change, project.currency), reason=reason)
    return change


async def changes_of(session: AsyncSession, actor: Actor, project_ids: list[int]) -> dict[int, list[ChangeRequest]]:
    rows = await session.scalars(select(ChangeRequest).where(
        ChangeRequest.org_id == actor.org_id, ChangeRequest.project_id.in_(project_ids))
        .order_by(ChangeRequest.project_id, ChangeRequest.id))
    return group_by(project_ids, rows, lambda r: r.project_id)
