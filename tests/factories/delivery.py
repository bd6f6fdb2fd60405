"""Factories for the delivery domain tests: a fresh org per test (so its outbox, projects and loads
start from nothing) and won deals turned into projects through the real services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.delivery.project import Project, TemplateTask, create_template, project_for_opportunity
from tandem.domain.delivery.task import Task, TaskInput, tasks_of, update_task
from tandem.domain.pipeline.opportunity import Opportunity, OpportunityInput, create_opportunity, move_opportunity_stage
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user, set_cost_rate
from tests.conftest import actor_of

MONDAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
"""Monday 1 June 2026: projects won then start on a Monday."""

PLAN = (
    TemplateTask("req", "需求调研", 5, Decimal(40)),
    TemplateTask("design", "方案设计", 3, Decimal(24), ["req"]),
    TemplateTask("build", "开发", 10, Decimal(160), ["design"]),
    TemplateTask("docs", "文档", 2, Decimal(16), ["req"]),
    TemplateTask("golive", "上线", 0, Decimal(0), ["build", "docs"]),
)
"""Critical path 需求调研 → 方案设计 → 开发 → 上线 (18 working days); 文档 has 11 days of slack."""


@dataclass
class DeliveryOrg:
    """sales: manager ← rep, peer; delivery: pm, pm2 (project managers), lead ← dev, dev2 (service);
    finance (sets cost rates: dev 200/h, dev2 100/h, pm 450/h) and an admin."""

    org_id: int
    admin: Actor
    manager: Actor
    rep: Actor
    peer: Actor
    pm: Actor
    pm2: Actor
    lead: Actor
    dev: Actor
    dev2: Actor
    finance: Actor


async def new_delivery_org(db: Any, *, project_managers: bool = True) -> DeliveryOrg:
    tag = uuid.uuid4().hex[:10]
    async with db.write() as s:
        org = await create_org(s, f"Delivery {tag}", "CNY")

        async def user(key: str, roles: list[str], manager: Actor | None = None) -> Actor:
            u = await create_user(s, org.id, email=f"{key}-{tag}@delivery.test", name=key, roles=roles,
                                  manager_id=manager.user_id if manager else None)
            return actor_of(u)

        admin = await user("admin", ["admin"])
        manager = await user("manager", ["sales_manager"])
        rep = await user("rep", ["sales_rep"], manager)
        peer = await user("peer", ["sales_rep"], manager)
        pm_roles = ["project_manager"] if project_managers else ["service"]
        pm = await user("pm", pm_roles)
        pm2 = await user("pm2", pm_roles)
        lead = await user("lead", ["service"])
        dev = await user("dev", ["service"], lead)
        dev2 = await user("dev2", ["service"])
        finance = await user("finance", ["finance"])
        for who, rate in ((dev, "200"), (dev2, "100"), (pm, "450")):
            await set_cost_rate(s, finance, who.user_id, Decimal(rate))
    return DeliveryOrg(org.id, admin, manager, rep, peer, pm, pm2, lead, dev, dev2, finance)


async def new_template(db: Any, org: DeliveryOrg, *tasks: TemplateTask, name: str = "实施模板",
                       keywords: tuple[str, ...] = (), is_default: bool = True) -> None:
    async with db.write() as s:
        await create_template(s, org.pm, name=name, keywords=list(keywords), is_default=is_default,
                              tasks=list(tasks or PLAN))


async def won_opportunity(db: Any, org: DeliveryOrg, name: str = "ERP 实施", amount: str = "300000", *,
                          by: Actor | None = None, **extra: Any) -> Opportunity:
    """An opportunity of the rep's (or ``by``'s) moved to won."""
    by = by or org.rep
    async with db.write() as s:
        customer = await create_customer(s, by, CustomerInput(name=f"客户 {uuid.uuid4().hex[:6]}"))
        opp = await create_opportunity(s, by, OpportunityInput(customer_id=customer.id, name=name,
                                                               amount=Decimal(amount), **extra))
        for stage in ("proposal", "negotiation", "won"):
            opp = await move_opportunity_stage(s, by, opp.id, opp.version, stage)
    return opp


async def project_of(db: Any, org: DeliveryOrg, opportunity_id: int) -> Project:
    async with db.read() as s:
        found = await project_for_opportunity(s, org.org_id, opportunity_id)
    assert found is not None
    return found


async def new_project(db: Any, org: DeliveryOrg, *tasks: TemplateTask, amount: str = "300000",
                      name: str = "ERP 实施") -> Project:
    """A project the pm runs, built from a default template of ``tasks`` (PLAN by default)."""
    await new_template(db, org, *tasks, name=f"模板 {uuid.uuid4().hex[:6]}")
    opp = await won_opportunity(db, org, name, amount, project_manager_id=org.pm.user_id)
    return await project_of(db, org, opp.id)


async def reload_project(db: Any, project: Project) -> Project:
    async with db.read() as s:
        found = await s.get(Project, project.id)
    assert found is not None
    return found


async def tasks_by_name(db: Any, org: DeliveryOrg, project: Project) -> dict[str, Task]:
    async with db.read() as s:
        return {t.name: t for t in (await tasks_of(s, org.pm, [project.id]))[project.id]}


async def assign_task(db: Any, org: DeliveryOrg, task: Task, who: Actor) -> Task:
    async with db.write() as s:
        return await update_task(s, org.pm, task.id, task.version, TaskInput(assignee_id=who.user_id,
                                                                             set_fields={"assignee_id"}))


async def edit_task(db: Any, by: Actor, task: Task, **changes: Any) -> Task:
    async with db.write() as s:
        return await update_task(s, by, task.id, task.version, TaskInput(**changes, set_fields=set(changes)))


async def outbox_topics(db: Any, org: DeliveryOrg, *names: str) -> list[tuple[str, str, int]]:
    """(topic, record type, record id) of the org's outbox events of these topics, in order."""
    async with db.read() as s:
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == org.org_id,
                                                         OutboxEvent.topic.in_(names)).order_by(OutboxEvent.id))
        return [(e.topic, e.record_type, e.record_id) for e in rows]
