"""Demo data: org "Demo" with a user of every role, customers (some Chinese), contacts,
interactions, leads and opportunities in every stage, and quote to cash (demo_billing.py); a routing
rule giving web leads to the rep whose territory covers their region (李娜 华东, Sam 华南); and org
"Acme" to try tenant isolation. The won deals become delivery projects (demo_delivery.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.automation.routing import AssignmentMethod, AssignmentRuleInput, RoutedType, create_assignment_rule
from tandem.domain.crm.contact import ContactInput, create_contact
from tandem.domain.crm.customer import CustomerInput, CustomerTier, LifecycleStage, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.crm.lead import LeadInput, LeadSource, create_lead
from tandem.domain.pipeline.competitor import create_competitor
from tandem.domain.pipeline.custom_field import CustomFieldType, define_custom_field
from tandem.domain.pipeline.lost_reason import define_lost_reason
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, move_opportunity_stage
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.org import Org, create_org, create_team
from tandem.domain.tenancy.user import User, create_user

from .demo_billing import Cast, seed_quote_to_cash
from .demo_delivery import seed_delivery, seed_templates
from .demo_service import seed_service

DEMO_USERS = (
    # email, name, roles, manager
    ("admin@demo.test", "Ada Admin", ["admin"], None),
    ("manager@demo.test", "王经理 (Sales Manager)", ["sales_manager"], None),
    ("rep1@demo.test", "李娜 (Rep 1)", ["sales_rep"], "manager@demo.test"),
    ("rep2@demo.test", "Sam Rep 2", ["sales_rep"], "manager@demo.test"),
    ("pm@demo.test", "Priya PM", ["project_manager"], None),
    ("finance@demo.test", "陈会计 (Finance)", ["finance"], None),
    ("service@demo.test", "Sergio Service", ["service"], None),
    ("marketing@demo.test", "Mia Marketing", ["marketing"], None),
)
TERRITORIES = {"rep1@demo.test": "华东", "rep2@demo.test": "华南"}
WEB_LEADS_RULE = "网站线索按区域分配 Web leads by territory"
ACME_USERS = (
    ("admin@acme.test", "Acme Admin", ["admin"], None),
    ("rep@acme.test", "Acme Rep", ["sales_rep"], None),
)

CUSTOMERS = (
    # name, industry, tier, tags, owner
    ("华为技术有限公司", "电信设备", CustomerTier.STRATEGIC, ["制造", "重点客户"], "rep1@demo.test"),
    ("上海浦东发展银行", "金融", CustomerTier.KEY, ["金融", "华东"], "rep1@demo.test"),
    ("深圳市腾飞软件有限公司", "软件", CustomerTier.STANDARD, ["软件"], "rep2@demo.test"),
    ("Northwind Engineering", "Engineering", CustomerTier.KEY, ["engineering", "EMEA"], "rep2@demo.test"),
    ("Contoso Ｉｎｔｅｇｒａｔｉｏｎ 株式会社", "Integration", CustomerTier.SMALL, ["integration"], "rep1@demo.test"),
)

OPPORTUNITIES = (
    # customer index, name, amount, stage, lost reason
    (0, "ERP 实施项目 一期", "1200000.00", "initial_contact", None),
    (0, "数据中台咨询", "860000.00", "proposal", None),
    (1, "核心系统集成", "2350000.00", "negotiation", None),
    (1, "移动银行 App 改造", "640000.00", "won", None),
    (2, "CRM 二次开发", "180000.00", "lost", "价格高于竞争对手"),
    (3, "Plant automation retrofit", "455000.00", "proposal", None),
    (3, "Maintenance contract 2027", "98000.00", "won", None),
    (4, "API gateway rollout", "72000.00", "negotiation", None),
)

STAGE_PATHS = {
    "initial_contact": (),
    "proposal": ("proposal",),
    "negotiation": ("proposal", "negotiation"),
    "won": ("proposal", "negotiation", "won"),
    "lost": ("proposal", "lost"),
}


async def is_seeded(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Org)))


async def _users(session: AsyncSession, org: Org, specs: tuple, team_name: str) -> dict[str, User]:
    team = await create_team(session, org.id, team_name)
    users: dict[str, User] = {}
    for email, name, roles, manager in specs:
        users[email] = await create_user(
            session, org.id, email=email, name=name, roles=roles,
            manager_id=users[manager].id if manager else None,
            team_id=team.id if "sales_rep" in roles or "sales_manager" in roles else None,
            territory=TERRITORIES.get(email),
        )
    return users


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email)


async def seed_demo(session: AsyncSession) -> dict[str, User]:
    """Create both demo orgs; returns every demo user by e-mail."""
    demo = await create_org(session, "Demo", "CNY")
    users = await _users(session, demo, DEMO_USERS, "华东销售一组")
    for key, label, kind, choices in (
        ("budget", "Budget", CustomFieldType.MONEY, None),
        ("decision_maker", "Decision maker", CustomFieldType.TEXT, None),
        ("competitor", "Competitor", CustomFieldType.CHOICE, ["SAP", "Oracle", "用友", "金蝶", "Other"]),
    ):
        await define_custom_field(session, demo.id, entity="opportunity", key=key, label=label, type=kind,
                                  choices=choices)
    await define_custom_field(session, demo.id, entity="customer", key="region", label="Region",
                              type=CustomFieldType.TEXT)
    admin = _actor(users["admin@demo.test"])
    for key, label in (("price", "价格太高"), ("competitor", "选择了竞争对手"), ("no_budget", "客户预算取消")):
        await define_lost_reason(session, admin, label=label, key=key)
    for name, website in (("SAP", "https://www.sap.com"), ("用友网络", "https://www.yonyou.com"),
                          ("金蝶软件", "https://www.kingdee.com")):
        await create_competitor(session, admin, name=name, website=website)
    await seed_templates(session, _actor(users["pm@demo.test"]))
    now = clock.now()
    customers = []
    for name, industry, tier, tags, owner in CUSTOMERS:
        actor = _actor(users[owner])
        customer = await create_customer(session, actor, CustomerInput(
            name=name, industry=industry, tier=tier, tags=tags, lifecycle_stage=LifecycleStage.CUSTOMER,
            credit_limit=Decimal("500000.00"), custom_fields={"region": "华东" if "上海" in name else "其他"},
        ))
        contact = await create_contact(session, actor, ContactInput(
            customer_id=customer.id, name="张伟" if any(ord(c) > 0x3000 for c in name) else "Jordan Lee",
            title="CIO", phone="+86 138 0013 8000", email=f"cio{customer.id}@example.com", is_decision_maker=True,
        ))
        customers.append((customer, contact, actor))
    opportunities = {}
    for index, name, amount, stage, lost_reason in OPPORTUNITIES:
        customer, contact, actor = customers[index]
        opportunity = await create_opportunity(session, actor, OpportunityInput(
            customer_id=customer.id, name=name, amount=Decimal(amount), currency="CNY",
            expected_close_date=date.today() + timedelta(days=30 + 10 * index),
            custom_fields={"budget": amount, "competitor": "SAP" if index % 2 else "用友"},
            next_step="安排技术交流会",
        ))
        for step in STAGE_PATHS[stage]:
            opportunity = await move_opportunity_stage(session, actor, opportunity.id, opportunity.version, step,
                                                       lost_reason if step == "lost" else None)
        opportunities[name] = opportunity
        for days_ago, kind, summary in (
            (20, InteractionKind.CALL, "首次电话沟通，了解需求"),
            (12, InteractionKind.MEETING, "Kick-off meeting with the IT team"),
            (3, InteractionKind.VISIT, "现场拜访，演示方案"),
        ):
            await log_interaction(session, actor, InteractionInput(
                customer_id=customer.id, contact_id=contact.id, opportunity_id=opportunity.id, kind=kind,
                summary=summary, occurred_at=now - timedelta(days=days_ago + index),
            ))
    rep1 = _actor(users["rep1@demo.test"])
    await create_lead(session, rep1, LeadInput(name="赵敏", company="杭州云帆科技有限公司", email="zhao@yunfan.example",
                                               source=LeadSource.EVENT))
    await create_lead(session, rep1, LeadInput(name="Chris Park", company="Fabrikam Builders",
                                               source=LeadSource.WEBSITE))
    # from now on a lead from the web goes to the rep whose territory covers its region, and says why
    await create_assignment_rule(session, admin, AssignmentRuleInput(
        name=WEB_LEADS_RULE, object_type=RoutedType.LEAD, method=AssignmentMethod.TERRITORY,
        member_ids=[users["rep1@demo.test"].id, users["rep2@demo.test"].id],
        conditions=[{"field": "source", "eq": "website"}]))
    await seed_quote_to_cash(session, Cast(**{k: _actor(users[f"{k}@demo.test"]) for k in (
        "admin", "manager", "rep1", "rep2", "finance")}), [c for c, _, _ in customers], opportunities, now.date())
    await seed_delivery(session, finance=_actor(users["finance@demo.test"]), pm=_actor(users["pm@demo.test"]),
                        engineer=_actor(users["service@demo.test"]), today=now.date())
    await seed_service(session, _actor(users["service@demo.test"]), users["service@demo.test"],
                       users["rep1@demo.test"].team_id, [(c.id, p.id) for c, p, _ in customers])
    acme = await create_org(session, "Acme", "USD")
    acme_users = await _users(session, acme, ACME_USERS, "Acme Sales")
    acme_rep = _actor(acme_users["rep@acme.test"])
    acme_customer = await create_customer(session, acme_rep, CustomerInput(name="Acme Secret Customer"))
    await create_opportunity(session, acme_rep, OpportunityInput(customer_id=acme_customer.id, name="Acme deal",
                                                                 amount=Decimal("5000.00"), currency="USD"))
    return {**users, **acme_users}
