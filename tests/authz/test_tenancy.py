"""Tenant isolation over the whole API, one suite for every area: Acme's admin, given ids taken from
org Demo (of every record type the registry declares, in every position a query or mutation takes
one), gets NOT_FOUND for every lookup and every mutation, sees no Demo row in any connection or list,
and changes nothing in Demo.

The cases come from two places: the record-type registry (node(id) and the root lookup of every type;
every query and mutation that takes any record's id, for every type with a timeline or an owner, and
archiveRecord / restoreRecord for every archivable type) and
each area's own cases (tests/authz/tenancy/: crm, delivery, quote_to_cash), which name the ids that
only a given mutation takes. A last test fails when the schema gains a root field or mutation
without a case."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from graphql import build_schema
from sqlalchemy import select

from tandem.domain.contracts.approval import approval_flow
from tandem.domain.pipeline.stage import PipelineStage, SalesPipeline
from tandem.domain.registry import ARCHIVABLE_TYPES, GUARDED_TYPES, NODE_TYPES, OWNED_TYPES, TIMELINE_TYPES
from tandem.domain.tenancy.trusted_document import TrustedDocument
from tandem.schema.node import from_global_id, to_global_id
from tests.authz.tenancy import (
    ACME,
    NODE,
    Case,
    World,
    count_of,
    crm,
    delivery,
    demo_keys,
    follow_ups,
    global_ids,
    input_of,
    knowledge,
    names_of,
    org_snapshot,
    pipeline_config,
    pks_of,
    quote_to_cash,
    routing,
    tickets,
    unchanged,
    workflow_rules,
)
from tests.authz.tenancy.crm import (  # noqa: F401 (fixtures)
    acme_collaboration,
    acme_lead,
    demo_collaboration,
)
from tests.authz.tenancy.delivery import acme_delivery, demo_timesheet  # noqa: F401 (fixtures)
from tests.authz.tenancy.follow_ups import follow_up_records  # noqa: F401 (fixtures)
from tests.authz.tenancy.knowledge import knowledge_records  # noqa: F401 (fixtures)
from tests.authz.tenancy.pipeline_config import pipeline_config_records  # noqa: F401 (fixtures)
from tests.authz.tenancy.quote_to_cash import acme_q2c  # noqa: F401 (fixtures)
from tests.authz.tenancy.routing import demo_rule  # noqa: F401 (fixtures)
from tests.authz.tenancy.tickets import acme_ticket  # noqa: F401 (fixtures)
from tests.authz.tenancy.workflow_rules import demo_workflow_rule  # noqa: F401 (fixtures)

AREAS = (crm, delivery, quote_to_cash, follow_ups, workflow_rules, routing, pipeline_config, knowledge, tickets)
SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8"))


@pytest.fixture
async def world(db, gql, users, demo_workflow_rule, demo_collaboration, acme_collaboration, acme_delivery,  # noqa: F811
                demo_timesheet, acme_q2c, demo_rule, follow_up_records, knowledge_records,  # noqa: F811
                pipeline_config_records, acme_ticket) -> World:  # noqa: F811
    world = World(demo_org_id=users["admin@demo.test"].org_id, acme_org_id=users[ACME].org_id)
    world.add(await crm.records(db, users, demo_collaboration, acme_collaboration))
    world.add(await delivery.records(db, users, acme_delivery, demo_timesheet))
    world.add(await quote_to_cash.records(db, users, acme_q2c))
    world.add(await routing.records(demo_rule))
    world.add(await workflow_rules.records(demo_workflow_rule))
    world.add(await follow_ups.records(follow_up_records))
    world.add(await pipeline_config.records(pipeline_config_records))
    world.add(await knowledge.records(knowledge_records))
    world.add(await tickets.records(db, users, acme_ticket))
    demo_feed = await gql(crm.CHANGE_EVENTS, {}, as_="admin@demo.test")
    world.demo_cursor = demo_feed["data"]["changeEvents"]["endCursor"]
    return world


# --- cases every record type of the registry has ----------------------------------------------


def _lookup(type_name: str) -> str | None:
    """The root field that fetches one record of the type by id (``customer(id:)``), if the schema has one."""
    name = type_name[0].lower() + type_name[1:]
    root = SCHEMA.query_type.fields.get(name)
    return name if root is not None and "id" in root.args else None


COMMENTS_ON = {"comments": (crm.COMMENTS, "recordId"), "meetings": (crm.MEETINGS, "recordId")}


def registry_cases() -> list[Case]:
    """For every record type: its Demo id through node(id) and its root lookup; for every type with a
    timeline, through comments, meetings, addComment and recordMeeting; for every type with an owner,
    through shareRecord."""
    out = [Case(f"node(id: {t})", NODE, "node", lambda w, _, t=t: {"id": w.demo[t]}) for t in sorted(NODE_TYPES)]
    out += [Case(f"{field}(id)", f"query ($id: ID!) {{ {field}(id: $id) {{ id }} }}", field,
                 lambda w, _, t=t: {"id": w.demo[t]})
            for t in sorted(NODE_TYPES) if (field := _lookup(t))]
    for t in sorted(TIMELINE_TYPES):
        out += [
            Case(f"comments(recordId: {t})", crm.COMMENTS, "comments", lambda w, _, t=t: {"recordId": w.demo[t]},
                 nullable=False),
            Case(f"meetings(recordId: {t})", crm.MEETINGS, "meetings", lambda w, _, t=t: {"recordId": w.demo[t]},
                 nullable=False),
            Case(f"addComment.recordId({t})", crm.ADD_COMMENT, "addComment", lambda w, _, t=t: input_of(
                recordId=w.demo[t], body="Acme was here")),
            Case(f"recordMeeting.recordId({t})", crm.RECORD_MEETING, "recordMeeting", lambda w, _, t=t: input_of(
                recordId=w.demo[t], title="Acme meeting")),
        ]
    out += [Case(f"shareRecord.recordId({t})", crm.SHARE_RECORD, "shareRecord", lambda w, _, t=t: input_of(
        recordId=w.demo[t], userId=w.acme["Rep"])) for t in sorted(OWNED_TYPES)]
    for t in sorted(ARCHIVABLE_TYPES):
        out += [
            Case(f"archiveRecord.id({t})", crm.ARCHIVE_RECORD, "archiveRecord", lambda w, _, t=t: input_of(
                id=w.demo[t])),
            Case(f"restoreRecord.id({t})", crm.RESTORE_RECORD, "restoreRecord", lambda w, _, t=t: input_of(
                id=w.demo[t])),
        ]
    return out


NOT_FOUND_CASES = registry_cases() + [c for area in AREAS for c in area.NOT_FOUND_CASES]
UNNAMED_CASES = [c for area in AREAS for c in area.UNNAMED_CASES]
CONNECTION_CASES = [c for area in AREAS for c in area.CONNECTION_CASES]
FILTERED_CASES = [c for area in AREAS for c in area.FILTERED_CASES]
LIST_CASES = [c for area in AREAS for c in area.LIST_CASES]
MODELS = {field: model for area in AREAS for field, model in area.MODELS.items()}
NO_ID_QUERIES = set().union(*(area.NO_ID_QUERIES for area in AREAS))


def test_the_world_holds_a_demo_record_of_every_record_type(world):
    # then: every node(id) case above names a Demo record of its type
    assert {from_global_id(world.demo[t])[0] for t in NODE_TYPES} == set(NODE_TYPES)


@pytest.mark.parametrize("type_name", sorted(NODE_TYPES))
async def test_demo_admin_gets_the_record_acme_may_not(gql, world, type_name):
    # when: the same id, asked by its own org's admin
    result = await gql(NODE, {"id": world.demo[type_name]}, as_="admin@demo.test")
    # then: the NOT_FOUND Acme gets is the tenancy's, not a missing record
    assert result == {"data": {"node": {"id": world.demo[type_name], "__typename": type_name}}}


# --- single lookups and mutations on Demo ids: NOT_FOUND -------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in NOT_FOUND_CASES])
async def test_acme_admin_gets_not_found_for_a_demo_id(gql, db, users, world, case):
    # given
    lead = await acme_lead(db, users) if case.needs_lead else None
    demo_before = await org_snapshot(db, world.demo_org_id)
    acme_before = await org_snapshot(db, world.acme_org_id)
    # when
    result = await gql(case.document, case.variables(world, lead), as_=ACME)
    # then
    assert [e["extensions"]["code"] for e in result.get("errors", [])] == [case.code], result
    assert result["data"] == case.failed_data
    assert unchanged(await org_snapshot(db, world.demo_org_id), demo_before)
    if case.is_mutation:
        assert unchanged(await org_snapshot(db, world.acme_org_id), acme_before)


# --- mutations naming no Demo id: they change Acme only --------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in UNNAMED_CASES])
async def test_acme_admin_mutation_changes_acme_and_never_demo(gql, db, world, case):
    # given
    demo_before = await org_snapshot(db, world.demo_org_id)
    acme_before = await org_snapshot(db, world.acme_org_id)
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert "errors" not in result, result
    assert result["data"][case.field]["userErrors"] == []
    assert unchanged(await org_snapshot(db, world.demo_org_id), demo_before)
    assert await org_snapshot(db, world.acme_org_id) != acme_before


# --- connections: every Acme row, never a Demo row --------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CONNECTION_CASES])
async def test_acme_admin_connection_holds_every_acme_row_and_no_demo_row(gql, db, world, case):
    # given
    model = MODELS[case.field]
    demo = await demo_keys(db, world.demo_org_id)
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert "errors" not in result, result
    connection = result["data"][case.field]
    assert {from_global_id(gid) for gid in global_ids(connection)}.isdisjoint(demo)
    acme = {(model.__name__, pk) for pk in await pks_of(db, model, world.acme_org_id)}
    assert acme  # made by the areas' Acme fixtures or the seed
    assert {from_global_id(e["node"]["id"]) for e in connection["edges"]} == acme
    assert connection["totalCount"] == len(acme) == await count_of(db, model, world.acme_org_id)
    if hasattr(model, "name") and all("name" in e["node"] for e in connection["edges"]):
        names = {e["node"]["name"] for e in connection["edges"]}
        assert names.isdisjoint(await names_of(db, model, world.demo_org_id))
        assert names <= await names_of(db, model, world.acme_org_id)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in FILTERED_CASES])
async def test_acme_admin_connection_filtered_on_a_demo_record_is_empty(gql, world, case):
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert result == {"data": {case.field: {"totalCount": 0, "edges": []}}}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in LIST_CASES])
async def test_acme_admin_list_holds_no_demo_records(gql, db, world, case):
    # given
    demo = await demo_keys(db, world.demo_org_id)
    # when
    result = await gql(case.document, case.variables(world, None), as_=ACME)
    # then
    assert "errors" not in result, result
    ids = {from_global_id(gid) for gid in global_ids(result["data"])}
    assert ids.isdisjoint(demo)
    if not case.may_be_empty:
        assert ids  # Acme's own records are there


# --- every root field and mutation has its case ----------------------------------------------


def test_every_query_and_mutation_of_the_schema_has_a_tenancy_case():
    # given
    roots = set(SCHEMA.query_type.fields) | set(SCHEMA.mutation_type.fields)
    # when
    covered = NO_ID_QUERIES | {c.field for c in NOT_FOUND_CASES + UNNAMED_CASES + CONNECTION_CASES + FILTERED_CASES
                               + LIST_CASES}
    # then
    assert roots - covered == set()


# --- root fields without ids answer for Acme -------------------------------------------------


async def test_me_is_the_acme_admin(gql, users):
    # when
    result = await gql(crm.ME, as_=ACME)
    # then
    assert result == {"data": {"me": {"email": ACME}}}


async def test_my_org_is_acme(gql, world):
    # when
    result = await gql(crm.MY_ORG, as_=ACME)
    # then
    assert result == {"data": {"myOrg": {"id": to_global_id("Org", world.acme_org_id), "name": "Acme"}}}


async def test_trusted_documents_are_acmes_only(gql, db, world):
    # given a document Demo's admin trusts
    document = f"{{ me {{ name }} }} # Demo {uuid.uuid4().hex[:8]}"
    registered = await gql(crm.REGISTER_TRUSTED_DOCUMENT, input_of(document=document), as_="admin@demo.test")
    demo_hash = registered["data"]["registerTrustedDocument"]["trustedDocument"]["sha256"]
    # when Acme's admin lists the trusted documents
    result = await gql(crm.TRUSTED_DOCUMENTS, as_=ACME)
    # then they are exactly Acme's rows, without Demo's
    listed = {e["node"]["sha256"] for e in result["data"]["trustedDocuments"]["edges"]}
    async with db.read() as session:
        acme = set(await session.scalars(select(TrustedDocument.sha256).where(
            TrustedDocument.org_id == world.acme_org_id)))
    assert demo_hash not in listed
    assert listed == acme
    assert result["data"]["trustedDocuments"]["totalCount"] == len(acme)


async def test_pipeline_is_acmes_stages_only(gql, db, world):
    # given
    async with db.read() as session:
        default = select(SalesPipeline.id).where(SalesPipeline.org_id == world.acme_org_id, SalesPipeline.is_default)
        stages = (await session.scalars(select(PipelineStage).where(PipelineStage.pipeline_id.in_(default))
                                        .order_by(PipelineStage.position))).all()
    # when
    result = await gql(crm.PIPELINE, as_=ACME)
    # then
    assert result == {"data": {"pipeline": [
        {"key": s.key, "label": s.label, "probability": s.probability, "isWon": s.is_won, "isClosed": s.is_closed}
        for s in stages]}}
    assert len(stages) == 5


async def test_my_permissions_follow_acmes_policy(gql):
    # when
    result = await gql(crm.MY_PERMISSIONS, as_=ACME)
    # then: Acme's admin sees every row of every guarded type of its org
    assert "errors" not in result, result
    assert {p["type"]: p["scope"] for p in result["data"]["myPermissions"]} == {t: "ORG" for t in GUARDED_TYPES}


async def test_my_time_entries_are_the_acme_admins_own(gql, users, world):
    # when: a span that covers the seed's Demo time too
    result = await gql(delivery.MY_TIME_ENTRIES, {
        "since": (delivery.LAST_WEEK - timedelta(days=7)).isoformat(),
        "until": (delivery.TODAY + timedelta(days=1)).isoformat()}, as_=ACME)
    # then
    assert "errors" not in result, result
    entries = result["data"]["myTimeEntries"]
    assert world.acme["TimeEntry"] in {e["id"] for e in entries}
    assert {e["user"]["id"] for e in entries} == {world.acme["Admin"]}
    assert {e["projectId"] for e in entries} <= {world.acme["Project"]}


async def test_receivables_in_demos_currency_are_nothing_for_acme(gql, world):
    # when: Demo bills in CNY, Acme never did
    result = await gql("""{ receivables(currency: "CNY") {
        outstanding overdue openInvoices invoicedInPeriod dueInvoices customerCredit invoices { outstanding } } }""",
                       as_=ACME)
    # then
    assert "errors" not in result, result
    figures = result["data"]["receivables"]
    assert {k: v for k, v in figures.items() if k != "invoices"} == {
        "outstanding": "0.00", "overdue": "0.00", "openInvoices": 0, "invoicedInPeriod": "0.00", "dueInvoices": 0,
        "customerCredit": "0.00"}
    assert figures["invoices"] == []


async def test_contract_approval_flow_is_acmes(gql, db, world):
    # given
    async with db.read() as session:
        steps = await approval_flow(session, world.acme_org_id)
    # when
    result = await gql(quote_to_cash.CONTRACT_APPROVAL_FLOW, as_=ACME)
    # then
    assert result == {"data": {"contractApprovalFlow": steps}}
