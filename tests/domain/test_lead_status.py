"""A lead's status rules (pure) and updateLead's domain service on a real database: the moves a person may
make, disqualifying needs a reason, a converted lead is final, the owner must be an active user of the org."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.crm.errors import CrmErrorCode
from tandem.domain.crm.lead import STATUS_MOVES, LeadInput, LeadStatus, create_lead, status_change, update_lead
from tandem.domain.shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.errors import TenancyErrorCode
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tests.conftest import actor_of
from tests.factories.names import unique

S = LeadStatus


def moved(current: LeadStatus, target: LeadStatus, reason: str | None = None) -> tuple[dict[str, Any], list[Any]]:
    v = Validator()
    return status_change(v, current, target, reason), [(e.field, e.code) for e in v.errors]


@pytest.mark.parametrize(("current", "target"), [
    (current, target) for current in S for target in S if target in STATUS_MOVES[current]])
def test_an_allowed_move_sets_the_status(current, target):
    reason = "没有预算" if target is S.UNQUALIFIED else None
    assert moved(current, target, reason) == ({"status": target.value, "disqualify_reason": reason}, [])


@pytest.mark.parametrize(("current", "target"), [
    (S.QUALIFIED, S.NEW), (S.CONTACTED, S.NEW), (S.UNQUALIFIED, S.QUALIFIED), (S.CONVERTED, S.NEW),
    (S.NEW, S.CONVERTED), (S.QUALIFIED, S.CONVERTED)])
def test_any_other_move_is_refused(current, target):
    _, errors = moved(current, target)
    assert errors == [(("status",), CrmErrorCode.INVALID_STATUS_TRANSITION)]


def test_disqualifying_needs_a_reason_and_reopening_clears_it():
    assert moved(S.NEW, S.UNQUALIFIED)[1] == [(("disqualifyReason",), SharedErrorCode.REASON_REQUIRED)]
    assert moved(S.UNQUALIFIED, S.UNQUALIFIED, "改了原因") == (
        {"status": "unqualified", "disqualify_reason": "改了原因"}, [])
    assert moved(S.UNQUALIFIED, S.NEW, "旧原因") == ({"status": "new", "disqualify_reason": None}, [])


def test_a_reason_on_a_lead_that_stays_qualified_is_refused():
    assert moved(S.QUALIFIED, S.QUALIFIED, "为什么")[1] == [(("disqualifyReason",), SharedErrorCode.INVALID)]


# --- the service ---------------------------------------------------------------------------------


async def new_org(db: Any) -> tuple[Any, User, User, User]:
    """An org with a manager, a rep and a rep who left."""
    async with db.write() as session:
        org = await create_org(session, unique("线索公司"), "CNY")
        made = [await create_user(session, org.id, email=f"{uuid.uuid4().hex}@lead.test", name=name, roles=roles)
                for name, roles in (("经理", ["sales_manager"]), ("销售", ["sales_rep"]), ("离职", ["sales_rep"]))]
        made[2].active = False
    return org, *made


async def test_a_lead_goes_only_to_an_active_user_of_the_org(db):
    # given a manager's lead, a rep who left, and a user of another org
    org, manager, rep, gone = await new_org(db)
    _, stranger, _, _ = await new_org(db)
    actor = actor_of(manager)
    async with db.write() as session:
        lead = await create_lead(session, actor, LeadInput(name="周芷若"))
    # when it is handed to the rep who left
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as session:
            await update_lead(session, actor, lead.id, lead.version,
                              LeadInput(name=None, owner_id=gone.id, set_fields={"owner_id"}))
    # then USER_INACTIVE
    assert [(e.field, e.code) for e in refused.value.errors] == [(("ownerId",), TenancyErrorCode.USER_INACTIVE)]
    # and to a user of another org: not found
    with pytest.raises(NotFound):
        async with db.write() as session:
            await update_lead(session, actor, lead.id, lead.version,
                              LeadInput(name=None, owner_id=stranger.id, set_fields={"owner_id"}))
    # and to the active rep: done, one event saying so
    async with db.write() as session:
        handed = await update_lead(session, actor, lead.id, lead.version,
                                   LeadInput(name=None, owner_id=rep.id, set_fields={"owner_id"}))
    assert handed.owner_id == rep.id
    async with db.read() as session:
        events = list(await session.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.record_type == "Lead", OutboxEvent.record_id == lead.id)
            .order_by(OutboxEvent.id)))
    assert [(e.topic, e.payload.get("changes")) for e in events] == [
        ("lead.created", None), ("lead.updated", {"owner": [manager.id, rep.id]})]
