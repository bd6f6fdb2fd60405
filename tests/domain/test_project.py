"""Won deals become projects: once per deal, run by the project manager the deal names or else the
least-loaded one (or the deal's owner when the org has none), built from the matching template, with
budget and dates from the deal's active contract when it has one. Settings are the manager's."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tandem.domain.crm.customer import get_customer
from tandem.domain.delivery.errors import DeliveryErrorCode
from tandem.domain.delivery.project import (
    Project,
    ProjectMember,
    ProjectSettings,
    ProjectStatus,
    ProjectTemplate,
    TemplateTask,
    create_template,
    get_project,
    update_project,
)
from tandem.domain.pipeline.opportunity import get_opportunity, move_opportunity_stage
from tandem.domain.shared.clock import clock
from tandem.domain.shared.errors import NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.shared.scope import Scope
from tests.factories.checks import count, fails
from tests.factories.delivery import (
    MONDAY,
    PLAN,
    new_delivery_org,
    new_template,
    outbox_topics,
    project_of,
    reload_project,
    tasks_by_name,
    won_opportunity,
)
from tests.factories.quote_to_cash import active_contract, new_world

MAINTENANCE = (
    TemplateTask("handover", "交接", 3, Decimal(16)),
    TemplateTask("runbook", "运维手册", 5, Decimal(40), ["handover"]),
)


@pytest.fixture(autouse=True)
def monday():
    clock.set(MONDAY)
    yield
    clock.set(None)


async def _close(db, who, project: Project) -> Project:
    async with db.write() as s:
        return await update_project(s, who, project.id, project.version,
                                    ProjectSettings(status=ProjectStatus.CLOSED, set_fields={"status"}))


async def test_a_deal_won_again_keeps_its_one_project(db):
    # given a won deal and its project
    org = await new_delivery_org(db)
    await new_template(db, org)
    opp = await won_opportunity(db, org)
    first = await project_of(db, org, opp.id)
    # when it goes back to negotiation and is won again
    async with db.write() as s:
        opp = await get_opportunity(s, org.rep, opp.id)
        opp = await move_opportunity_stage(s, org.rep, opp.id, opp.version, "negotiation")
        opp = await move_opportunity_stage(s, org.rep, opp.id, opp.version, "won")
    # then it still has one project, the same, created once
    assert await count(db, Project, Project.opportunity_id == opp.id) == 1
    assert (await project_of(db, org, opp.id)).id == first.id
    assert await outbox_topics(db, org, "project.created") == [("project.created", "Project", first.id)]
    assert len(await tasks_by_name(db, org, first)) == len(PLAN)


async def test_a_project_without_a_contract_takes_the_deals_amount_and_starts_today(db):
    org = await new_delivery_org(db)
    opp = await won_opportunity(db, org, "数据中台咨询", "860000.00")
    project = await project_of(db, org, opp.id)
    assert (project.name, project.budget, project.currency) == ("数据中台咨询", Decimal("860000.00"), "CNY")
    assert (project.start_date, project.deadline, project.contract_id) == (date(2026, 6, 1), None, None)
    assert (project.status, project.sales_owner_id, project.customer_id) == ("planning", org.rep.user_id,
                                                                              opp.customer_id)


async def test_the_project_manager_the_deal_names_runs_it_even_when_busier(db):
    # given pm already runs a project and pm2 none
    org = await new_delivery_org(db)
    await won_opportunity(db, org, "一期", project_manager_id=org.pm.user_id)
    # when a deal naming pm is won
    opp = await won_opportunity(db, org, "二期", project_manager_id=org.pm.user_id)
    # then pm runs it, not the least-loaded pm2
    assert (await project_of(db, org, opp.id)).manager_id == org.pm.user_id


async def test_the_least_loaded_project_manager_runs_a_deal_that_names_none(db):
    org = await new_delivery_org(db)
    # when three deals are won: a tie goes to the longest-serving manager, then the one with fewer open projects
    first = await project_of(db, org, (await won_opportunity(db, org, "一期")).id)
    second = await project_of(db, org, (await won_opportunity(db, org, "二期")).id)
    assert (first.manager_id, second.manager_id) == (org.pm.user_id, org.pm2.user_id)
    # and a closed project no longer counts against its manager
    await _close(db, org.pm, first)
    third = await project_of(db, org, (await won_opportunity(db, org, "三期")).id)
    assert third.manager_id == org.pm.user_id
    # and each manager was told, and is a member
    async with db.read() as s:
        members = set((await s.execute(select(ProjectMember.project_id, ProjectMember.user_id).where(
            ProjectMember.org_id == org.org_id))).all())
    assert members == {(first.id, org.pm.user_id), (second.id, org.pm2.user_id), (third.id, org.pm.user_id)}


async def test_the_project_manager_is_told_of_the_new_project(db):
    org = await new_delivery_org(db)
    opp = await won_opportunity(db, org, project_manager_id=org.pm2.user_id)
    project = await project_of(db, org, opp.id)
    async with db.read() as s:
        from tandem.domain.shared.outbox import OutboxEvent

        created = await s.scalar(select(OutboxEvent).where(OutboxEvent.org_id == org.org_id,
                                                           OutboxEvent.topic == "project.created"))
    assert (created.record_id, created.audience) == (project.id, [org.pm2.user_id])
    assert (created.timeline_type, created.timeline_id) == ("Project", project.id)
    assert (created.also_type, created.also_id) == ("Opportunity", opp.id)


async def test_the_deals_owner_runs_the_project_when_the_org_has_no_project_manager(db):
    org = await new_delivery_org(db, project_managers=False)
    opp = await won_opportunity(db, org)
    project = await project_of(db, org, opp.id)
    assert project.manager_id == org.rep.user_id


async def test_a_deal_gets_the_template_its_name_matches_else_the_default(db):
    # given a default template and a maintenance template chosen by keyword
    org = await new_delivery_org(db)
    await new_template(db, org, name="标准实施", is_default=True)
    await new_template(db, org, *MAINTENANCE, name="运维交接", keywords=("Maintenance", "运维"), is_default=False)
    async with db.read() as s:
        templates = await s.scalars(select(ProjectTemplate).where(ProjectTemplate.org_id == org.org_id))
        ids = {t.name: t.id for t in templates}
    # when a maintenance deal (any case) and another deal are won
    kept = await project_of(db, org, (await won_opportunity(db, org, "Annual MAINTENANCE contract 2027")).id)
    other = await project_of(db, org, (await won_opportunity(db, org, "移动银行 App 改造")).id)
    # then
    assert kept.template_id == ids["运维交接"]
    assert list(await tasks_by_name(db, org, kept)) == ["交接", "运维手册"]
    assert other.template_id == ids["标准实施"]
    assert list(await tasks_by_name(db, org, other)) == ["需求调研", "方案设计", "开发", "文档", "上线"]


async def test_a_deal_matching_no_template_and_no_default_gets_an_empty_project(db):
    org = await new_delivery_org(db)
    await new_template(db, org, *MAINTENANCE, name="运维交接", keywords=("运维",), is_default=False)
    project = await project_of(db, org, (await won_opportunity(db, org, "数据中台咨询")).id)
    assert (project.template_id, await tasks_by_name(db, org, project)) == (None, {})
    assert (project.scheduled_finish, project.percent_complete) == (date(2026, 6, 1), Decimal(0))


async def test_the_template_schedules_the_project_on_working_days(db):
    org = await new_delivery_org(db)
    await new_template(db, org)
    project = await project_of(db, org, (await won_opportunity(db, org)).id)
    plan = await tasks_by_name(db, org, project)
    assert [(t.early_start, t.early_finish) for t in plan.values()] == [
        (date(2026, 6, 1), date(2026, 6, 5)), (date(2026, 6, 8), date(2026, 6, 10)),
        (date(2026, 6, 11), date(2026, 6, 24)), (date(2026, 6, 8), date(2026, 6, 9)),
        (date(2026, 6, 24), date(2026, 6, 24))]
    assert [name for name, t in plan.items() if t.critical] == ["需求调研", "方案设计", "开发", "上线"]
    assert (plan["文档"].slack_days, plan["上线"].is_milestone) == (11, True)
    assert [(t.baseline_start, t.baseline_finish) for t in plan.values()] == [
        (t.early_start, t.early_finish) for t in plan.values()]
    assert (project.planned_finish, project.scheduled_finish, project.forecast_finish) == (
        date(2026, 6, 24), date(2026, 6, 24), date(2026, 6, 24))


async def test_budget_and_dates_come_from_the_deals_active_contract(db):
    # given a deal with an active contract of 120,000 for July to December
    world = await new_world(db)
    contract = await active_contract(db, world, opportunity_id=world.opportunity.id, amount=Decimal("120000"),
                                     start_date=date(2026, 7, 1), end_date=date(2026, 12, 31))
    assert contract.status == "active"
    # when the deal is won
    async with db.write() as s:
        opp = world.opportunity
        for stage in ("proposal", "negotiation", "won"):
            opp = await move_opportunity_stage(s, world.rep, opp.id, opp.version, stage)
    # then the project follows the contract, not the deal's 50,000
    async with db.read() as s:
        project = await s.scalar(select(Project).where(Project.opportunity_id == opp.id))
    assert (project.budget, project.contract_id) == (Decimal("120000"), contract.id)
    assert (project.start_date, project.deadline) == (date(2026, 7, 1), date(2026, 12, 31))


async def test_only_the_project_manager_changes_its_settings(db):
    org = await new_delivery_org(db)
    project = await project_of(db, org, (await won_opportunity(db, org, project_manager_id=org.pm.user_id)).id)
    for who in (org.pm2, org.rep, org.dev):
        async with db.write() as s:
            with fails(DeliveryErrorCode.NOT_PROJECT_MANAGER):
                await update_project(s, who, project.id, project.version,
                                     ProjectSettings(deadline=date(2026, 9, 30), set_fields={"deadline"}))
    assert (await reload_project(db, project)).deadline is None
    async with db.write() as s:
        changed = await update_project(s, org.pm, project.id, project.version,
                                       ProjectSettings(deadline=date(2026, 9, 30), set_fields={"deadline"}))
    assert (changed.deadline, changed.version) == (date(2026, 9, 30), project.version + 1)


async def test_a_closed_project_changes_nothing_but_its_status(db):
    # given a closed project
    org = await new_delivery_org(db)
    opportunity = await won_opportunity(db, org, project_manager_id=org.pm.user_id)
    project = await _close(db, org.pm, await project_of(db, org, opportunity.id))
    assert (project.status, project.closed_at) == ("closed", MONDAY)
    # when its manager renames it
    async with db.write() as s:
        with fails(DeliveryErrorCode.PROJECT_CLOSED):
            await update_project(s, org.pm, project.id, project.version,
                                 ProjectSettings(name="新名字", set_fields={"name"}))
    # then it must be reopened first
    async with db.write() as s:
        reopened = await update_project(s, org.pm, project.id, project.version,
                                        ProjectSettings(status=ProjectStatus.ACTIVE, set_fields={"status"}))
    assert (reopened.status, reopened.closed_at) == ("active", None)


async def test_a_project_calendar_moves_its_schedule(db):
    # given a project on the default Monday-Friday week
    org = await new_delivery_org(db)
    await new_template(db, org)
    project = await project_of(db, org, (await won_opportunity(db, org, project_manager_id=org.pm.user_id)).id)
    # when Dragon Boat Festival (Friday 19 June) is a holiday
    async with db.write() as s:
        project = await update_project(s, org.pm, project.id, project.version, ProjectSettings(
            holidays=[date(2026, 6, 19)], set_fields={"holidays"}))
    # then the build phase ends a working day later, and the baseline stays
    plan = await tasks_by_name(db, org, project)
    assert (plan["开发"].early_finish, plan["开发"].baseline_finish) == (date(2026, 6, 25), date(2026, 6, 24))
    assert (project.scheduled_finish, project.planned_finish) == (date(2026, 6, 25), date(2026, 6, 24))


@pytest.mark.parametrize(("tasks_", "field", "code"), [
    ([TemplateTask("a", "A", 1, Decimal(0), ["b"]), TemplateTask("b", "B", 1, Decimal(0), ["a"])],
     ["tasks"], DeliveryErrorCode.DEPENDENCY_CYCLE),
    ([TemplateTask("a", "A"), TemplateTask("b", "B", 1, Decimal(0), ["nope"])],
     ["tasks", "1", "dependsOn"], SharedErrorCode.INVALID),
    ([TemplateTask("a", "A"), TemplateTask("a", "B")], ["tasks", "1", "key"], SharedErrorCode.DUPLICATE),
    ([TemplateTask("a", "A", -1)], ["tasks", "0", "durationDays"], SharedErrorCode.INVALID),
    ([], ["tasks"], SharedErrorCode.REQUIRED),
])
async def test_a_bad_template_is_refused_and_not_saved(db, tasks_, field, code):
    org = await new_delivery_org(db)
    async with db.write() as s:
        with pytest.raises(ValidationFailed) as refused:
            await create_template(s, org.pm, name="坏模板", keywords=[], is_default=True, tasks=tasks_)
    assert [(list(e.field), e.code) for e in refused.value.errors] == [(field, code)]
    assert await count(db, ProjectTemplate, ProjectTemplate.org_id == org.org_id) == 0


async def test_a_new_project_manager_reads_the_customer_and_deal_too(db):
    # given pm runs the project of the rep's deal, and pm2 (own rows only) may not read the deal
    org = await new_delivery_org(db)
    opp = await won_opportunity(db, org, project_manager_id=org.pm.user_id)
    project = await project_of(db, org, opp.id)
    pm2 = replace(org.pm2, scopes={"Customer": Scope.OWN, "Opportunity": Scope.OWN, "Project": Scope.OWN})
    async with db.read() as s:
        with pytest.raises(NotFound):
            await get_opportunity(s, pm2, opp.id)
    # when pm hands the project over to pm2
    async with db.write() as s:
        await update_project(s, org.pm, project.id, project.version,
                             ProjectSettings(manager_id=org.pm2.user_id, set_fields={"manager_id"}))
    # then pm2 reads the customer and the deal the project came from, as its first manager did
    async with db.read() as s:
        assert (await get_project(s, pm2, project.id)).manager_id == org.pm2.user_id
        assert (await get_customer(s, pm2, project.customer_id)).id == project.customer_id
        assert (await get_opportunity(s, pm2, opp.id)).id == opp.id
