"""A leaving user's open work goes to a successor: every area moves what it keeps open of theirs (and
leaves what is closed), each move announced on the record, the user's reports move to the successor."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tandem.domain.contracts.contract import Contract
from tandem.domain.crm.customer import Customer
from tandem.domain.delivery.project.model import Project, ProjectMember
from tandem.domain.delivery.task import Task
from tandem.domain.pipeline.opportunity import Opportunity
from tandem.domain.sales.quote.model import Quote
from tandem.domain.shared.errors import ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.handover import deactivate_user
from tandem.domain.tenancy.user import User
from tests.factories.delivery import assign_task, new_delivery_org, new_project, tasks_by_name, won_opportunity
from tests.factories.quote_to_cash import new_contract, new_quote, new_world


async def _reassigned(db: Any, org_id: int) -> list[tuple[str, str, int, dict]]:
    async with db.read() as s:
        rows = await s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == org_id, OutboxEvent.topic.like("%.reassigned")).order_by(OutboxEvent.id))
        return [(e.topic, e.record_type, e.record_id, e.payload) for e in rows]


async def test_a_leaving_reps_open_sales_work_moves_to_the_successor(db: Any) -> None:
    # given a rep who owns a customer, an open opportunity, a draft quote and a draft contract
    world = await new_world(db)
    quote = await new_quote(db, world)
    contract = await new_contract(db, world)

    # when the admin deactivates the rep, naming the peer as successor
    async with db.write() as s:
        user, handed = await deactivate_user(s, world.admin, world.rep.user_id, world.peer.user_id)

    # then the rep is inactive and each of those records is the peer's now
    assert user.active is False
    assert {(h.record_type, h.count) for h in handed if h.count} == {
        ("Customer", 1), ("Opportunity", 1), ("Quote", 1), ("Contract", 1)}
    async with db.read() as s:
        for model, pk in ((Customer, world.customer.id), (Opportunity, world.opportunity.id), (Quote, quote.id),
                          (Contract, contract.id)):
            row = await s.get(model, pk)
            assert row.owner_id == world.peer.user_id, model.__name__
        assert (await s.get(Opportunity, world.opportunity.id)).version == world.opportunity.version + 1
        assert not (await s.get(User, world.rep.user_id)).active
    # and each move is announced on its record, naming who had it
    events = await _reassigned(db, world.org_id)
    assert sorted((topic, record_type) for topic, record_type, _, _ in events) == [
        ("contract.reassigned", "Contract"), ("customer.reassigned", "Customer"),
        ("opportunity.reassigned", "Opportunity"), ("quote.reassigned", "Quote")]
    assert all(p["ownerId"] == world.peer.user_id and p["previousOwnerId"] == world.rep.user_id
               for *_, p in events)


async def test_without_a_successor_a_user_with_open_work_stays_active(db: Any) -> None:
    world = await new_world(db)
    # when the admin deactivates the rep without naming anyone
    with pytest.raises(ValidationFailed) as refused:
        async with db.write() as s:
            await deactivate_user(s, world.admin, world.rep.user_id, None)
    # then it is refused, saying what they own, and nothing changed
    error = refused.value.errors[0]
    assert (error.field, error.code.value) == (("transferOwnershipTo",), "REQUIRED")
    assert "1 Customer" in error.message and "1 Opportunity" in error.message
    async with db.read() as s:
        assert (await s.get(User, world.rep.user_id)).active
        assert (await s.get(Customer, world.customer.id)).owner_id == world.rep.user_id
    assert await _reassigned(db, world.org_id) == []


async def test_a_user_without_open_work_leaves_without_a_successor_and_their_reports_move_up(db: Any) -> None:
    world = await new_world(db)
    # given the other manager, who owns nothing
    async with db.write() as s:
        user, handed = await deactivate_user(s, world.admin, world.other_manager.user_id, None)
    assert user.active is False and handed == []
    # when the manager leaves with the vp as successor
    async with db.write() as s:
        await deactivate_user(s, world.admin, world.manager.user_id, world.vp.user_id)
    # then the rep and the peer report to the vp
    async with db.read() as s:
        assert {(await s.get(User, who.user_id)).manager_id for who in (world.rep, world.peer)} == {world.vp.user_id}


@pytest.mark.parametrize("case", ["self", "inactive successor", "already inactive", "successor is the user",
                                  "unknown successor"])
async def test_refusals_change_nothing(db: Any, case: str) -> None:
    world = await new_world(db)
    async with db.write() as s:
        await deactivate_user(s, world.admin, world.other_manager.user_id, None)
    target, successor, code = {
        "self": (world.admin.user_id, world.peer.user_id, "SELF_DEACTIVATION"),
        "inactive successor": (world.rep.user_id, world.other_manager.user_id, "USER_INACTIVE"),
        "already inactive": (world.other_manager.user_id, world.peer.user_id, "USER_INACTIVE"),
        "successor is the user": (world.rep.user_id, world.rep.user_id, "INVALID"),
        "unknown successor": (world.rep.user_id, 10**9, "NOT_FOUND"),
    }[case]
    with pytest.raises(Exception) as refused:
        async with db.write() as s:
            await deactivate_user(s, world.admin, target, successor)
    error = refused.value
    got = error.errors[0].code.value if isinstance(error, ValidationFailed) else error.code
    assert got == code
    async with db.read() as s:
        assert (await s.get(User, world.rep.user_id)).active
        assert (await s.get(Customer, world.customer.id)).owner_id == world.rep.user_id


async def test_delivery_moves_open_projects_and_tasks_and_keeps_closed_deals(db: Any) -> None:
    # given a project the pm runs for the rep's won deal, a task of it assigned to dev
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    task = (await tasks_by_name(db, org, project))["开发"]
    await assign_task(db, org, task, org.dev)
    other_deal = await won_opportunity(db, org, "另一个机会")  # won (closed): stays with the rep; its project moves

    # when the pm, dev and rep leave, with pm2, dev2 and peer as successors
    async with db.write() as s:
        _, pm_handed = await deactivate_user(s, org.admin, org.pm.user_id, org.pm2.user_id)
        _, dev_handed = await deactivate_user(s, org.admin, org.dev.user_id, org.dev2.user_id)
        _, rep_handed = await deactivate_user(s, org.admin, org.rep.user_id, org.peer.user_id)

    # then pm2 manages the project, dev2 has the task and both are members; peer is its sales owner
    async with db.read() as s:
        moved = await s.get(Project, project.id)
        assert (moved.manager_id, moved.sales_owner_id) == (org.pm2.user_id, org.peer.user_id)
        assert moved.version > project.version
        assert (await s.get(Task, task.id)).assignee_id == org.dev2.user_id
        members = set(await s.scalars(select(ProjectMember.user_id).where(ProjectMember.project_id == project.id)))
        assert {org.pm2.user_id, org.dev2.user_id} <= members
        # and the won deals and their customers: the deals stay (closed), the customers move
        assert (await s.get(Opportunity, other_deal.id)).owner_id == org.rep.user_id
        assert (await s.get(Customer, other_deal.customer_id)).owner_id == org.peer.user_id
    assert ("Project", 1) in {(h.record_type, h.count) for h in pm_handed}
    assert ("Task", 1) in {(h.record_type, h.count) for h in dev_handed}
    assert {(h.record_type, h.count) for h in rep_handed if h.count} >= {("Project", 2), ("Customer", 2)}
    # and the task's move is a task.updated on the project's timeline, like a reassignment by hand
    async with db.read() as s:
        updated = (await s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == org.org_id, OutboxEvent.topic == "task.updated",
            OutboxEvent.record_id == task.id).order_by(OutboxEvent.id.desc()))).first()
    assert updated.payload["changes"] == {"assignee": [org.dev.user_id, org.dev2.user_id]}
    assert (updated.timeline_type, updated.timeline_id) == ("Project", project.id)
