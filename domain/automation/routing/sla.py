"""The lead response SLA: a lead its owner did not touch in time goes to the rule's next eligible member."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...collaboration.comment import Comment
from ...crm.lead import Lead, LeadStatus
from ...shared.dialect import lock_for_update
from ...shared.outbox import record_event
from ...tenancy.user import User
from ..errors import AutomationErrorCode
from .engine import assign, choose, facts_of
from .model import (
    Assignment,
    AssignmentRule,
    RoutedType,
)


async def _touched(session: AsyncSession, lead: Lead, assignment: Assignment) -> bool:
    """The owner did something with the lead since it was assigned: its status moved on, it was edited,
    it changed hands, or its owner commented on it."""
    if lead.owner_id != assignment.assignee_id or lead.status != LeadStatus.NEW.value:
        return True
    if lead.updated_at > assignment.assigned_at:
        return True
    comment = await session.scalar(select(Comment.id).where(
        Comment.org_id == lead.org_id, Comment.record_type == "Lead", Comment.record_id == lead.id,
        Comment.author_id == assignment.assignee_id, Comment.created_at >= assignment.assigned_at).limit(1))
    return comment is not None


async def run_lead_response(session: AsyncSession, now: datetime) -> int:
    """Hand every lead not touched within its rule's response time to the rule's next eligible member and tell
    the previous owner's manager; returns how many were handed on."""
    due = list(await session.scalars(lock_for_update(session, select(Assignment).where(
        Assignment.settled_at.is_(None), Assignment.response_due_at.is_not(None),
        Assignment.response_due_at <= now).order_by(Assignment.response_due_at, Assignment.id).limit(500))))
    handed = 0
    for assignment in due:
        assignment.settled_at = now
        lead = await session.get(Lead, assignment.record_id)
        rule = await session.get(AssignmentRule, assignment.rule_id) if assignment.rule_id else None
        if lead is None or rule is None or await _touched(session, lead, assignment):
            continue
        locked = await session.scalar(lock_for_update(session, select(AssignmentRule).where(
            AssignmentRule.id == rule.id)).execution_options(populate_existing=True))
        rule = locked or rule
        late = await session.get(User, assignment.assignee_id)
        facts = await facts_of(session, RoutedType.LEAD, lead)
        choice = await choose(session, rule, RoutedType.LEAD, facts, now, exclude=assignment.assignee_id)
        manager = [late.manager_id] if late is not None and late.manager_id else []
        late_name = late.name if late else "its owner"
        hours = f"{rule.response_hours:g}"
        if choice.assignee is None:
            record_event(session, None, org_id=lead.org_id, topic="lead.response_overdue", record_type="Lead",
                         record_id=lead.id, operation="update", audience=manager,
                         payload={"ownerId": lead.owner_id, "version": lead.version, "rule": rule.name,
                                  "reason": f"{late_name} did not respond within {hours} h and {choice.reason}",
                                  "code": AutomationErrorCode.NO_ELIGIBLE_ASSIGNEE.value})
            continue
        reason = f"{late_name} did not respond within {hours} h; {choice.reason}"
        await assign(session, None, RoutedType.LEAD, lead, choice.assignee, rule=rule, method=rule.method,
                     reason=reason, code=None, at=now, response_hours=rule.response_hours, audience=manager)
        handed += 1
    await session.flush()
    return handed
