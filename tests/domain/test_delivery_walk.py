"""A won deal delivered, on the domain services in a fresh org: the project comes from the matching
template with a scheduled critical path; time logged moves cost and earned value; a slipping task
warns the project manager; a change request above the threshold needs the sales manager too."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.delivery.budget import cost_figures
from tandem.domain.delivery.change_request import ChangeStatus, approve_change, request_change
from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.project import TemplateTask, create_template, get_project
from tandem.domain.delivery.task import TaskInput, TaskStatus, tasks_of, update_task
from tandem.domain.delivery.timesheet import log_time
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, move_opportunity_stage
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import ValidationFailed
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user, set_cost_rate
from tests.conftest import actor_of

MONDAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def frozen():
    clock.set(MONDAY)
    yield
    clock.set(None)


async def new_org_people(db) -> dict[str, Actor]:
    tag = uuid.uuid4().hex[:8]
    async with db.write() as s:
        org = await create_org(s, f"Delivery {tag}", "CNY")
        manager = await create_user(s, org.id, email=f"m-{tag}@d.test", name="经理", roles=["sales_manager"])
        rep = await create_user(s, org.id, email=f"r-{tag}@d.test", name="销售", roles=["sales_rep"],
                                manager_id=manager.id)
        busy = await create_user(s, org.id, email=f"p1-{tag}@d.test", name="忙碌的 PM", roles=["project_manager"])
        free = await create_user(s, org.id, email=f"p2-{tag}@d.test", name="空闲的 PM", roles=["project_manager"])
        dev = await create_user(s, org.id, email=f"dev-{tag}@d.test", name="开发", roles=["service"])
        finance = await create_user(s, org.id, email=f"f-{tag}@d.test", name="财务", roles=["finance"])
    return {k: actor_of(u) for k, u in (("manager", manager), ("rep", rep), ("busy", busy), ("free", free),
                                        ("dev", dev), ("finance", finance))}


async def won_opportunity_id(db, rep: Actor, name: str, amount: str = "300000", **extra) -> int:
    async with db.write() as s:
        customer = await create_customer(s, rep, CustomerInput(name=f"客户 {uuid.uuid4().hex[:6]}"))
        opp = await create_opportunity(s, rep, OpportunityInput(customer_id=customer.id, name=name,
                                                                amount=Decimal(amount), **extra))
        for stage in ("proposal", "negotiation", "won"):
            opp = await move_opportunity_stage(s, rep, opp.id, opp.version, stage)
    return opp.id


async def test_won_deal_becomes_a_scheduled_project_and_is_delivered(db, frozen):
    who = await new_org_people(db)
    rep, pm_busy, pm_free, dev = who["rep"], who["busy"], who["free"], who["dev"]
    async with db.write() as s:
        await create_template(s, pm_busy, name="ERP 实施", keywords=["ERP"], is_default=False, tasks=[
            TemplateTask("req", "需求调研", 5, Decimal(40)),
            TemplateTask("design", "方案设计", 3, Decimal(24), ["req"]),
            TemplateTask("build", "开发", 10, Decimal(160), ["design"]),
            TemplateTask("docs", "文档", 2, Decimal(16), ["req"]),
            TemplateTask("golive", "上线", 0, Decimal(0), ["build", "docs"]),
        ])
        await set_cost_rate(s, who["finance"], dev.user_id, Decimal("200"))
    # the busy PM already runs one project (named explicitly on that deal)
    await won_opportunity_id(db, rep, "Other work", project_manager_id=pm_busy.user_id)
    # when an ERP deal is won
    opp_id = await won_opportunity_id(db, rep, "ERP 二期")
    async with db.read() as s:
        from tandem.domain.delivery.project import project_for_opportunity
        project = await project_for_opportunity(s, rep.org_id, opp_id)
        tasks = {t.name: t for t in (await tasks_of(s, rep, [project.id]))[project.id]}
    # then the least-loaded PM runs a project built from the template, scheduled on working days
    assert project.manager_id == pm_free.user_id
    assert project.budget == Decimal("300000")
    assert [t for t in tasks] == ["需求调研", "方案设计", "开发", "文档", "上线"]
    assert (tasks["需求调研"].early_start, tasks["需求调研"].early_finish) == (date(2026, 6, 1), date(2026, 6, 5))
    assert (tasks["开发"].early_start, tasks["开发"].early_finish) == (date(2026, 6, 11), date(2026, 6, 24))
    assert [n for n, t in tasks.items() if t.critical] == ["需求调研", "方案设计", "开发", "上线"]
    assert tasks["文档"].slack_days == 11
    assert project.planned_finish == date(2026, 6, 24)
    assert (tasks["上线"].early_start, tasks["上线"].early_finish) == (date(2026, 6, 24), date(2026, 6, 24))
    # moving the deal out of won and back finds the same project
    async with db.write() as s:
        from tandem.domain.pipeline.opportunity import get_opportunity
        opp = await get_opportunity(s, rep, opp_id)
        opp = await move_opportunity_stage(s, rep, opp.id, opp.version, "negotiation")
        opp = await move_opportunity_stage(s, rep, opp.id, opp.version, "won")
    async with db.read() as s:
        from tandem.domain.delivery.project import Project
        assert len(list(await s.scalars(select(Project).where(Project.opportunity_id == opp_id)))) == 1

    # the developer (assigned) logs time: cost follows their rate
    pm = pm_free
    async with db.write() as s:
        await update_task(s, pm, tasks["需求调研"].id, tasks["需求调研"].version,
                          TaskInput(assignee_id=dev.user_id, set_fields={"assignee_id"}))
    async with db.write() as s:
        await log_time(s, dev, task_id=tasks["需求调研"].id, work_date=date(2026, 6, 1), hours=Decimal("8"),
                       note="访谈")
    async with db.write() as s:
        with pytest.raises(ValidationFailed) as too_many:
            await log_time(s, dev, task_id=tasks["需求调研"].id, work_date=date(2026, 6, 1), hours=Decimal("17"),
                           note=None)
    assert [e.code for e in too_many.value.errors] == [DeliveryErrorCode.TOO_MANY_HOURS]
    async with db.read() as s:
        project = await get_project(s, pm, project.id)
        figures = await cost_figures(s, project)
    assert (figures.labor_hours, figures.labor_cost) == (Decimal("8"), Decimal("1600.00"))

    # a slipping task warns the PM: the design is forecast to take 15 days instead of 3
    async with db.write() as s:
        design = tasks["方案设计"]
        await update_task(s, pm, design.id, design.version, TaskInput(duration_days=15,
                                                                       set_fields={"duration_days"}))
    async with db.read() as s:
        warnings = list(await s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == rep.org_id, OutboxEvent.topic.in_(["task.delay_risk", "project.schedule_risk"]))
            .order_by(OutboxEvent.id)))
    assert {(e.topic, e.record_type) for e in warnings} >= {("task.delay_risk", "Task"),
                                                             ("project.schedule_risk", "Project")}
    assert all(e.audience[0] == pm.user_id or pm.user_id in e.audience for e in warnings)

    # a change request of +50,000 (over 10 % of the budget): the PM, then a sales manager
    async with db.write() as s:
        change = await request_change(s, dev, project_id=project.id, title="增加报表模块", reason="客户新需求",
                                      scope_change="10 张报表", budget_delta=Decimal("50000"),
                                      schedule_delta_days=10)
    assert change.needs_sales_approval
    async with db.write() as s:
        with pytest.raises(ValidationFailed):
            await approve_change(s, dev, change.id, comment=None)
    async with db.write() as s:
        change = await approve_change(s, pm, change.id, comment="同意")
    assert change.status == ChangeStatus.PENDING_SALES
    async with db.write() as s:
        change = await approve_change(s, who["manager"], change.id, comment="批准")
    async with db.read() as s:
        project = await get_project(s, pm, project.id)
    assert change.status == ChangeStatus.APPROVED
    assert project.budget == Decimal("350000")
    assert project.deadline == date(2026, 7, 8)
    # the task can be marked done by its assignee
    async with db.write() as s:
        first = (await tasks_of(s, pm, [project.id]))[project.id][0]
        done = await update_task(s, dev, first.id, first.version, TaskInput(status=TaskStatus.DONE,
                                                                            set_fields={"status"}))
    assert done.percent_complete == 100 and done.actual_finish == date(2026, 6, 1)


async def test_finishing_a_delivery_milestone_makes_its_installment_due(db, frozen):
    from tandem.domain.billing.invoice import issue_invoice
    from tandem.domain.billing.payment_plan import Installment, InstallmentInput
    from tandem.domain.delivery.project import project_for_opportunity
    from tests.factories.checks import reload
    from tests.factories.quote_to_cash import active_contract, new_world, planned

    # given a signed contract on a deal whose last installment waits for go-live (上线)
    world = await new_world(db)
    contract = await active_contract(db, world, opportunity_id=world.opportunity.id)
    async with db.write() as s:
        pm = await create_user(s, world.org_id, email=f"pm-{uuid.uuid4().hex[:6]}@d.test", name="PM",
                               roles=["project_manager"])
        await create_template(s, actor_of(pm), name="Go-live", keywords=["ERP"], is_default=False, tasks=[
            TemplateTask("build", "开发", 5, Decimal(40)), TemplateTask("live", "上线", 0, Decimal(0), ["build"])])
    first, last = await planned(db, world, contract,
                                InstallmentInput(label="首付", due_date=date(2026, 6, 1), percent=Decimal("70")),
                                InstallmentInput(label="上线款", milestone="上线", percent=Decimal("30")))
    # when the deal is won, the project delivered and its go-live milestone finished
    async with db.write() as s:
        opp = await move_opportunity_stage(s, world.rep, world.opportunity.id, world.opportunity.version, "won")
    async with db.read() as s:
        project = await project_for_opportunity(s, world.org_id, opp.id)
        live = next(t for t in (await tasks_of(s, world.rep, [project.id]))[project.id] if t.name == "上线")
    async with db.write() as s:
        await update_task(s, actor_of(pm), live.id, live.version, TaskInput(status=TaskStatus.DONE,
                                                                           set_fields={"status"}))
    # then the go-live installment fell due today and finance can invoice it
    installment = await reload(db, Installment, last.id)
    assert (installment.due_date, installment.milestone_reached_on) == (date(2026, 6, 1), date(2026, 6, 1))
    async with db.write() as s:
        invoice = await issue_invoice(s, world.finance, installment_id=last.id)
    assert invoice.total == Decimal("30000.00")
    assert (await reload(db, Installment, first.id)).milestone_reached_on is None
