"""Change requests: the project manager decides (never their own); one moving the budget by more than
the project's threshold (10 % by default) also needs a sales manager. Approval moves the budget and
the deadline by working days and keeps the before/after in the project's history; rejection changes
nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tandem.domain.delivery.change_request import (
    ChangeRequest,
    ChangeStatus,
    approve_change,
    changes_of,
    reject_change,
    request_change,
)
from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.project import ProjectSettings, ProjectStatus, update_project
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import SharedErrorCode, ValidationFailed
from tests.factories.checks import count, fails
from tests.factories.delivery import MONDAY, new_delivery_org, new_project, outbox_topics, reload_project

PLANNED_FINISH = date(2026, 6, 24)  # a Wednesday


@pytest.fixture(autouse=True)
def monday():
    clock.set(MONDAY)
    yield
    clock.set(None)


async def _request(db, who, project, budget_delta="20000", days=5, **extra) -> ChangeRequest:
    async with db.write() as s:
        return await request_change(s, who, project_id=project.id, title=extra.pop("title", "增加报表"),
                                    reason=extra.pop("reason", "客户新需求"),
                                    scope_change=extra.pop("scope_change", None),
                                    budget_delta=Decimal(budget_delta) if budget_delta is not None else None,
                                    schedule_delta_days=days)


async def _approve(db, who, change, comment=None) -> ChangeRequest:
    async with db.write() as s:
        return await approve_change(s, who, change.id, comment=comment)


async def _reject(db, who, change, reason="超出合同范围") -> ChangeRequest:
    async with db.write() as s:
        return await reject_change(s, who, change.id, reason=reason)


def topics_of(rows: list[tuple[str, str, int]]) -> list[str]:
    return [t for t, _, _ in rows]


async def test_nobody_decides_their_own_change_request(db):
    # given the project manager asks for a change on their own project
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.pm, project)
    # then they can neither approve nor reject it
    with fails(SharedErrorCode.SELF_APPROVAL):
        await _approve(db, org.pm, change)
    with fails(SharedErrorCode.SELF_APPROVAL):
        await _reject(db, org.pm, change)
    # but an admin can
    assert (await _approve(db, org.admin, change)).status == "approved"


async def test_a_change_within_the_threshold_is_approved_by_the_project_manager_alone(db):
    # given a 300,000 project and a change of exactly 10 %
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.dev, project, budget_delta="30000", days=5)
    assert (change.status, change.needs_sales_approval) == ("pending_manager", False)
    # when the project manager approves
    approved = await _approve(db, org.pm, change, comment="同意")
    # then the budget and the deadline move at once
    after = await reload_project(db, project)
    assert (approved.status, approved.manager_decided_by_id, approved.decision_comment) == (
        "approved", org.pm.user_id, "同意")
    assert (after.budget, after.deadline, after.version) == (Decimal("330000"), date(2026, 7, 1), project.version + 1)
    assert topics_of(await outbox_topics(db, org, "change.requested", "change.approved")) == [
        "change.requested", "change.approved"]


async def test_only_the_project_manager_decides_first(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.dev, project)
    for who in (org.pm2, org.manager, org.finance, org.dev2):
        with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
            await _approve(db, who, change)
        with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
            await _reject(db, who, change)
    assert (await reload_project(db, project)).budget == Decimal("300000")


async def test_a_change_over_the_threshold_also_needs_a_sales_manager(db):
    # given a change of 10 % and a cent
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.dev, project, budget_delta="30000.01", days=10)
    assert change.needs_sales_approval
    # when the project manager approves, it waits for sales and nothing moves yet
    change = await _approve(db, org.pm, change)
    assert change.status == "pending_sales"
    unchanged = await reload_project(db, project)
    assert (unchanged.budget, unchanged.deadline) == (Decimal("300000"), None)
    # then nobody but a sales manager decides it, not even the project manager again
    for who in (org.pm, org.rep, org.finance, org.pm2):
        with fails(SharedErrorCode.WRONG_APPROVER_ROLE):
            await _approve(db, who, change)
    # when the sales manager approves
    change = await _approve(db, org.manager, change, comment="批准")
    after = await reload_project(db, project)
    assert (change.status, change.sales_decided_by_id, change.manager_decided_by_id) == (
        "approved", org.manager.user_id, org.pm.user_id)
    assert (after.budget, after.deadline) == (Decimal("330000.01"), date(2026, 7, 8))


async def test_a_budget_cut_over_the_threshold_needs_a_sales_manager_too(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.dev, project, budget_delta="-40000", days=0, scope_change="去掉报表模块")
    assert change.needs_sales_approval


async def test_approved_changes_keep_the_history_of_budget_and_deadline(db):
    # given a project planned to finish on Wednesday 24 June, without a deadline
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    assert (project.planned_finish, project.deadline) == (PLANNED_FINISH, None)
    # when a change adds 20,000 and 5 working days, then another takes 2 days back
    first = await _approve(db, org.pm, await _request(db, org.dev, project, budget_delta="20000", days=5))
    second = await _approve(db, org.pm, await _request(db, org.dev, project, budget_delta=None, days=-2,
                                                       scope_change="简化报表"))
    # then each keeps what it moved from and to
    assert (first.budget_before, first.deadline_before, first.deadline_after) == (
        Decimal("300000"), PLANNED_FINISH, date(2026, 7, 1))
    assert (second.budget_before, second.deadline_before, second.deadline_after) == (
        Decimal("320000"), date(2026, 7, 1), date(2026, 6, 29))
    after = await reload_project(db, project)
    assert (after.budget, after.deadline, after.planned_finish) == (Decimal("320000"), date(2026, 6, 29),
                                                                      date(2026, 6, 29))
    # and the project's history lists them oldest first
    async with db.read() as s:
        history = (await changes_of(s, org.pm, [project.id]))[project.id]
    assert [(c.id, c.status, c.budget_delta, c.schedule_delta_days) for c in history] == [
        (first.id, "approved", Decimal("20000"), 5), (second.id, "approved", Decimal("0"), -2)]


async def test_a_rejected_change_changes_nothing(db):
    # given a pending change
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.dev, project)
    # when it is rejected without a reason, it is refused
    with fails(SharedErrorCode.REASON_REQUIRED):
        await _reject(db, org.pm, change, reason="  ")
    # when it is rejected with one
    rejected = await _reject(db, org.pm, change, reason="超出合同范围")
    # then the project is as it was, and the decision is kept
    after = await reload_project(db, project)
    assert (after.budget, after.deadline, after.planned_finish, after.version) == (
        project.budget, project.deadline, project.planned_finish, project.version)
    assert (rejected.status, rejected.decision_comment, rejected.manager_decided_by_id) == (
        "rejected", "超出合同范围", org.pm.user_id)
    assert (rejected.budget_before, rejected.deadline_after) == (None, None)
    # and it cannot be decided again
    with fails(SharedErrorCode.INVALID_STATE):
        await _approve(db, org.pm, change)


async def test_a_sales_manager_may_reject_a_large_change_after_the_project_manager(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _approve(db, org.pm, await _request(db, org.dev, project, budget_delta="90000"))
    rejected = await _reject(db, org.manager, change, reason="预算不足")
    assert (rejected.status, rejected.sales_decided_by_id) == (ChangeStatus.REJECTED, org.manager.user_id)
    assert (await reload_project(db, project)).budget == Decimal("300000")


@pytest.mark.parametrize(("budget_delta", "days", "scope", "field", "code"), [
    ("0", 0, None, "budgetDelta", SharedErrorCode.REQUIRED),
    ("-300000.01", 0, None, "budgetDelta", SharedErrorCode.INVALID_AMOUNT),
    ("1000", 3651, None, "scheduleDeltaDays", SharedErrorCode.INVALID),
])
async def test_a_change_request_that_changes_nothing_or_too_much_is_refused(db, budget_delta, days, scope, field,
                                                                            code):
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    with pytest.raises(ValidationFailed) as refused:
        await _request(db, org.dev, project, budget_delta=budget_delta, days=days, scope_change=scope)
    assert [(e.field, e.code) for e in refused.value.errors] == [((field,), code)]
    assert await count(db, ChangeRequest, ChangeRequest.project_id == project.id) == 0


async def test_a_closed_project_takes_no_change_requests(db):
    org = await new_delivery_org(db)
    project = await new_project(db, org)
    change = await _request(db, org.dev, project)
    async with db.write() as s:
        await update_project(s, org.pm, project.id, project.version,
                             ProjectSettings(status=ProjectStatus.CLOSED, set_fields={"status"}))
    with fails(DeliveryErrorCode.PROJECT_CLOSED):
        await _request(db, org.dev, project)
    with fails(DeliveryErrorCode.PROJECT_CLOSED):
        await _approve(db, org.pm, change)
