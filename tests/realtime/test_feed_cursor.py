"""Pull-based sync over HTTP: `changeEvents(after, first, types)` pages through an org's changes in
order; its cursors are opaque, bound to the org, refused when tampered with (INVALID_CURSOR) or older
than retention (CURSOR_EXPIRED); and every event is authorized like a query (row scope, field
permissions, never another org)."""

from __future__ import annotations

import base64
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.app import create_app
from tandem.db import Database, create_engine
from tandem.domain.collaboration.comment import add_comment
from tandem.domain.crm.customer import Customer, CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, move_opportunity_stage
from tandem.domain.shared import outbox
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import OutboxEvent
from tandem.domain.shared.pagination import InvalidCursor
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.migrate import upgrade
from tandem.realtime.cursor import FeedCursors
from tandem.schema.node import from_global_id, to_global_id
from tandem.settings import Settings
from tests.conftest import PG_URL, GraphQLClient, actor_of
from tests.factories.names import unique
from tests.factories.waiting import eventually

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
DEADLINE = 10.0

CHANGE_EVENTS = """
query ($after: String, $first: Int!, $types: [String!]) {
  changeEvents(after: $after, first: $first, types: $types) {
    events { cursor eventId topic recordType recordId operation payload actor { email } }
    endCursor
    hasMore
  }
}"""

CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""

UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""


# --- factories -------------------------------------------------------------------------------


@dataclass
class Tenant:
    """A fresh org: an admin, two reps with a customer and an opportunity each, a service user."""

    org_id: int
    admin: User
    rep_a: User
    rep_b: User
    service: User
    customer_a: int
    customer_b: int
    opportunity_a: int
    opportunity_b: int
    client: GraphQLClient


async def new_tenant(db: Any, gql: Any) -> Tenant:
    async with db.write() as session:
        org = await create_org(session, unique("Feed org"))

        async def user(role: str) -> User:
            return await create_user(session, org.id, email=f"{uuid.uuid4().hex}@feed.test", name=role, roles=[role])

        admin, rep_a, rep_b, service = [await user(r) for r in ("admin", "sales_rep", "sales_rep", "service")]
        opportunities, customers = [], []
        for rep in (rep_a, rep_b):
            customer = await create_customer(session, actor_of(rep), CustomerInput(name=unique("Customer")))
            opportunity = await create_opportunity(session, actor_of(rep), OpportunityInput(
                customer_id=customer.id, name=unique("Deal"), amount=Decimal("1000.00"), currency="CNY"))
            customers.append(customer.id)
            opportunities.append(opportunity.id)
    client = GraphQLClient(gql.http, gql.settings, {u.email: u for u in (admin, rep_a, rep_b, service)})
    return Tenant(org.id, admin, rep_a, rep_b, service, *customers, *opportunities, client)


async def published(app: Any, db: Any, org_id: int) -> None:
    """Drain the app's relay until every event of the org is positioned and published."""

    async def nothing_pending() -> bool:
        await app.state.relay.drain()
        async with db.read() as session:
            return await session.scalar(select(OutboxEvent.id).where(
                OutboxEvent.org_id == org_id, OutboxEvent.published_at.is_(None)).limit(1)) is None

    await eventually(nothing_pending, within=DEADLINE, what="the relay to publish every event of the org")


async def positioned_events(db: Any, org_id: int, *, types: tuple[str, ...] = ()) -> list[OutboxEvent]:
    async with db.read() as session:
        return await outbox.events_after(session, org_id, 0, limit=10_000, record_types=list(types) or None)


async def change_events(client: GraphQLClient, as_: str, *, after: str | None = None, first: int = 100,
                        types: list[str] | None = None) -> dict[str, Any]:
    result = await client(CHANGE_EVENTS, {"after": after, "first": first, "types": types}, as_=as_)
    assert "errors" not in result, result["errors"]
    return result["data"]["changeEvents"]


async def whole_feed(client: GraphQLClient, as_: str, *, after: str | None = None,
                     types: list[str] | None = None) -> tuple[list[dict[str, Any]], str]:
    """Every event the user may read after ``after``, paging 500 at a time; and the final cursor."""
    events: list[dict[str, Any]] = []
    while True:
        page = await change_events(client, as_, after=after, first=500, types=types)
        events += page["events"]
        after = page["endCursor"]
        if not page["hasMore"]:
            return events, after


def error_code(result: dict[str, Any]) -> str:
    [error] = result["errors"]
    return error["extensions"]["code"]


def event_ids(events: list[dict[str, Any]]) -> list[int]:
    return [from_global_id(e["eventId"])[1] for e in events]


async def orgs_of(db: Any, ids: list[int]) -> set[int]:
    async with db.read() as session:
        return set(await session.scalars(select(OutboxEvent.org_id).where(OutboxEvent.id.in_(ids))))


MAC_BYTES = 12


def reencode(cursor: str, change: Callable[[bytes, bytes], tuple[bytes, bytes]]) -> str:
    """Decode a cursor into body and signature (``body.mac``, the mac 12 bytes), change them, and
    encode it again."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    body, mac = raw[:-MAC_BYTES - 1], raw[-MAC_BYTES:]
    body, mac = change(body, mac)
    return base64.urlsafe_b64encode(body + b"." + mac).decode().rstrip("=")


def shifted(body: bytes, mac: bytes) -> tuple[bytes, bytes]:
    org, _, position = body.decode().partition(":")
    return f"{org}:{int(position) - 1}".encode(), mac


def other_org(body: bytes, mac: bytes) -> tuple[bytes, bytes]:
    org, _, position = body.decode().partition(":")
    return f"{int(org) + 1}:{position}".encode(), mac


def flipped_signature(body: bytes, mac: bytes) -> tuple[bytes, bytes]:
    return body, bytes([mac[0] ^ 1]) + mac[1:]


# --- paging ------------------------------------------------------------------------------------


async def test_change_events_page_through_the_orgs_events_in_order(db, gql, app):
    # given
    tenant = await new_tenant(db, gql)
    async with db.write() as session:
        await move_opportunity_stage(session, actor_of(tenant.rep_a), tenant.opportunity_a, 1, "proposal")
        await add_comment(session, actor_of(tenant.rep_b), record_type="Opportunity",
                          record_id=tenant.opportunity_b, body="Kick-off on Monday")
    await published(app, db, tenant.org_id)
    expected = [e.id for e in await positioned_events(db, tenant.org_id)]
    # when
    pages, after = [], None
    while not pages or pages[-1]["hasMore"]:
        pages.append(await change_events(tenant.client, tenant.admin.email, after=after, first=2))
        after = pages[-1]["endCursor"]
    # then
    assert len(expected) == 6
    assert [len(p["events"]) for p in pages] == [2, 2, 2]
    assert [p["hasMore"] for p in pages] == [True, True, False]
    assert [i for p in pages for i in event_ids(p["events"])] == expected
    assert [p["endCursor"] for p in pages] == [p["events"][-1]["cursor"] for p in pages]
    assert [e["topic"] for p in pages for e in p["events"]] == [
        "customer.created", "opportunity.created", "customer.created", "opportunity.created",
        "opportunity.stage_moved", "comment.added"]
    # and nothing follows the last cursor, which stays put
    last = await change_events(tenant.client, tenant.admin.email, after=after, first=2)
    assert last == {"events": [], "endCursor": after, "hasMore": False}


async def test_a_reader_resuming_from_its_cursor_gets_exactly_the_later_events(db, gql, app):
    # given
    tenant = await new_tenant(db, gql)
    await published(app, db, tenant.org_id)
    _, cursor = await whole_feed(tenant.client, tenant.admin.email)
    # when
    async with db.write() as session:
        for n in range(3):
            await create_customer(session, actor_of(tenant.rep_a), CustomerInput(name=unique(f"Later {n}")))
    await published(app, db, tenant.org_id)
    later = await change_events(tenant.client, tenant.admin.email, after=cursor)
    # then
    assert event_ids(later["events"]) == [e.id for e in await positioned_events(db, tenant.org_id)][-3:]
    assert [e["topic"] for e in later["events"]] == ["customer.created"] * 3
    assert later["hasMore"] is False


@pytest.mark.parametrize("types", [["Opportunity"], ["Customer"], ["Customer", "Opportunity"], ["Comment"]])
async def test_change_events_of_some_record_types_only(db, gql, app, types):
    # given
    tenant = await new_tenant(db, gql)
    async with db.write() as session:
        await add_comment(session, actor_of(tenant.rep_a), record_type="Opportunity",
                          record_id=tenant.opportunity_a, body="Ready for review")
    await published(app, db, tenant.org_id)
    # when
    events, _ = await whole_feed(tenant.client, tenant.admin.email, types=types)
    # then
    assert event_ids(events) == [e.id for e in await positioned_events(db, tenant.org_id, types=tuple(types))]
    assert {e["recordType"] for e in events} == set(types)


@pytest.mark.parametrize("first", [1, 500])
async def test_first_within_bounds_is_accepted(db, gql, app, first):
    # given
    tenant = await new_tenant(db, gql)
    await published(app, db, tenant.org_id)
    # when
    page = await change_events(tenant.client, tenant.admin.email, first=first)
    # then
    assert len(page["events"]) == min(first, 4)
    assert page["hasMore"] is (first < 4)


@pytest.mark.parametrize("first", [0, -1, 501])
async def test_first_out_of_bounds_is_bad_user_input(gql, first):
    # when
    result = await gql(CHANGE_EVENTS, {"first": first})
    # then
    assert result["data"] is None
    assert error_code(result) == "BAD_USER_INPUT"


# --- cursors: opaque, signed, bound to the org --------------------------------------------------


@pytest.mark.parametrize("tamper", [
    lambda c: "not-a-cursor",
    lambda c: "",
    lambda c: c[:-2],
    lambda c: c + "A",
    lambda c: reencode(c, shifted),
    lambda c: reencode(c, other_org),
    lambda c: reencode(c, flipped_signature),
    lambda c: base64.urlsafe_b64encode(b"1:1").decode(),
], ids=["garbage", "empty", "truncated", "extended", "position-changed", "org-changed", "signature-flipped",
        "unsigned"])
async def test_a_tampered_cursor_is_refused_as_invalid(db, gql, app, tamper):
    # given
    tenant = await new_tenant(db, gql)
    await published(app, db, tenant.org_id)
    cursor = (await change_events(tenant.client, tenant.admin.email, first=2))["endCursor"]
    # when
    result = await tenant.client(CHANGE_EVENTS, {"after": tamper(cursor), "first": 10}, as_=tenant.admin.email)
    # then
    assert result["data"] is None
    assert error_code(result) == "INVALID_CURSOR"


def test_every_cursor_the_feed_issues_is_accepted_back(app):
    # given the app's cursors, for two orgs and the first 2,000 positions
    cursors = app.state.realtime.cursors
    issued = [(org, position, cursors.encode(org, position)) for org in (1, 2) for position in range(1, 2001)]
    # when
    refused = []
    for org, position, cursor in issued:
        try:
            assert cursors.decode(org, cursor) == position
        except InvalidCursor:
            refused.append((org, position))
    # then
    assert refused == []


async def test_a_cursor_signed_with_another_secret_is_refused_as_invalid(db, gql, app):
    # given
    tenant = await new_tenant(db, gql)
    forged = FeedCursors("some other deployment's secret").encode(tenant.org_id, 1)
    # when
    result = await tenant.client(CHANGE_EVENTS, {"after": forged, "first": 10}, as_=tenant.admin.email)
    # then
    assert error_code(result) == "INVALID_CURSOR"


async def test_a_cursor_from_acme_is_refused_to_a_demo_user(gql, users):
    # given
    acme_cursor = (await change_events(gql, "admin@acme.test", first=1))["endCursor"]
    # when
    results = [await gql(CHANGE_EVENTS, {"after": acme_cursor, "first": 10}, as_=email)
               for email in ("rep1@demo.test", "admin@demo.test")]
    # then
    assert [error_code(r) for r in results] == ["INVALID_CURSOR", "INVALID_CURSOR"]
    # while Acme itself may use it
    assert "errors" not in await gql(CHANGE_EVENTS, {"after": acme_cursor, "first": 10}, as_="admin@acme.test")


# --- retention ----------------------------------------------------------------------------------


@dataclass
class PrivateApp:
    db: Database
    app: Any
    gql: GraphQLClient


@pytest.fixture
async def private_app(settings: Settings, gql: Any) -> AsyncIterator[PrivateApp]:
    """An app on a database of its own: pruning deletes every event up to the pruned position, in
    every org, so it must not run on the session's database."""
    with tempfile.TemporaryDirectory() as tmp:
        name = f"tandem_feed_{uuid.uuid4().hex[:12]}"
        if PG_URL:
            url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
            admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'feed.db'}"
        # the app's relay keeps everything (its own pruning job would race the test's)
        own = settings.model_copy(update={"database_url": url, "outbox_retention_days": 36_500})
        database = Database(create_engine(own))
        try:
            await upgrade(database.engine)
            application = create_app(own)
            async with application.router.lifespan_context(application), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application), base_url="http://tandem.test") as http:
                yield PrivateApp(database, application, GraphQLClient(http, own, {}))
        finally:
            await database.dispose()
            if PG_URL:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


async def test_a_cursor_older_than_retention_is_refused_as_expired(private_app):
    # given events created long ago, published, with a reader's cursor at the first of them
    db, app = private_app.db, private_app.app
    tenant = await new_tenant(db, private_app.gql)
    clock.set(LONG_AGO)
    try:
        async with db.write() as session:
            for n in range(2):
                await create_customer(session, actor_of(tenant.rep_a), CustomerInput(name=unique(f"Old {n}")))
    finally:
        clock.set(None)
    async with db.write() as session:
        await create_customer(session, actor_of(tenant.rep_a), CustomerInput(name=unique("Recent")))
    await published(app, db, tenant.org_id)
    feed, _ = await whole_feed(tenant.client, tenant.admin.email)
    first_old, last_old, recent = feed[-3], feed[-2], feed[-1]
    # when retention prunes them
    async with db.write() as session:
        removed = await outbox.prune(session, datetime.now(UTC) - timedelta(days=30))
    # then a cursor inside the pruned range is expired, never a silent gap
    assert removed == 6
    expired = await tenant.client(CHANGE_EVENTS, {"after": first_old["cursor"], "first": 10}, as_=tenant.admin.email)
    assert expired["data"] is None
    assert error_code(expired) == "CURSOR_EXPIRED"
    # while a cursor at the last pruned event has missed nothing and reads on
    resumed = await change_events(tenant.client, tenant.admin.email, after=last_old["cursor"])
    assert event_ids(resumed["events"]) == event_ids([recent])
    # and a reader without a cursor starts at the oldest event kept
    assert event_ids((await change_events(tenant.client, tenant.admin.email))["events"]) == event_ids([recent])


# --- authorization per event --------------------------------------------------------------------


async def rep1_opens_and_reprices_an_opportunity(db: Any, gql: Any, app: Any, users: dict[str, User]) -> str:
    """rep1 opens an opportunity (1000.00) and changes its amount (2500) and next step; its global id."""
    async with db.read() as session:
        customer = await session.scalar(select(Customer.id).where(Customer.owner_id == users["rep1@demo.test"].id)
                                        .order_by(Customer.id).limit(1))
    created = await gql(CREATE_OPPORTUNITY, {"input": {
        "customerId": to_global_id("Customer", customer), "name": unique("Amount probe"), "amount": "1000.00"}})
    opportunity = created["data"]["createOpportunity"]["opportunity"]
    updated = await gql(UPDATE_OPPORTUNITY, {"input": {
        "id": opportunity["id"], "version": opportunity["version"], "amount": "2500.00", "nextStep": "Send quote"}})
    assert updated["data"]["updateOpportunity"]["userErrors"] == []
    await published(app, db, users["rep1@demo.test"].org_id)
    return opportunity["id"]


async def test_service_never_reads_opportunity_amounts_in_the_feed_while_the_owning_rep_does(db, gql, app, users):
    # given
    service_cursor = (await whole_feed(gql, "service@demo.test"))[1]
    rep_cursor = (await whole_feed(gql, "rep1@demo.test"))[1]
    opportunity = await rep1_opens_and_reprices_an_opportunity(db, gql, app, users)
    # when
    seen_by_service, _ = await whole_feed(gql, "service@demo.test", after=service_cursor)
    seen_by_rep, _ = await whole_feed(gql, "rep1@demo.test", after=rep_cursor)
    # then
    mine = [e for e in seen_by_service if e["recordId"] == opportunity]
    assert [e["topic"] for e in mine] == ["opportunity.created", "opportunity.updated"]
    assert "amount" not in mine[0]["payload"] and "customFields" not in mine[0]["payload"]
    assert mine[0]["payload"]["nextStep"] is None
    assert mine[1]["payload"]["changes"] == {"next_step": [None, "Send quote"]}
    rep_view = [e for e in seen_by_rep if e["recordId"] == opportunity]
    assert [e["topic"] for e in rep_view] == ["opportunity.created", "opportunity.updated"]
    assert Decimal(rep_view[0]["payload"]["amount"]) == Decimal("1000.00")
    assert [Decimal(v) for v in rep_view[1]["payload"]["changes"]["amount"]] == [Decimal("1000.00"), Decimal("2500")]
    assert rep_view[1]["payload"]["changes"]["next_step"] == [None, "Send quote"]


async def test_no_opportunity_event_in_the_service_users_whole_feed_carries_an_amount(db, gql, app, users):
    # given
    opportunity = await rep1_opens_and_reprices_an_opportunity(db, gql, app, users)
    # when
    events, _ = await whole_feed(gql, "service@demo.test", types=["Opportunity"])
    # then
    assert [e["topic"] for e in events if e["recordId"] == opportunity] == ["opportunity.created",
                                                                           "opportunity.updated"]
    assert [e["eventId"] for e in events
            if "amount" in e["payload"] or "amount" in (e["payload"].get("changes") or {})] == []


async def test_a_rep_never_receives_events_of_another_reps_opportunity(db, gql, app):
    # given rep A's opportunity moves, is commented on and gets an interaction; rep B's moves too
    tenant = await new_tenant(db, gql)
    async with db.write() as session:
        rep_a = actor_of(tenant.rep_a)
        await move_opportunity_stage(session, rep_a, tenant.opportunity_a, 1, "proposal")
        await add_comment(session, rep_a, record_type="Opportunity", record_id=tenant.opportunity_a, body="Private")
        await log_interaction(session, rep_a, InteractionInput(
            customer_id=tenant.customer_a, kind=InteractionKind.CALL, summary="Call",
            opportunity_id=tenant.opportunity_a))
        await move_opportunity_stage(session, actor_of(tenant.rep_b), tenant.opportunity_b, 1, "proposal")
    await published(app, db, tenant.org_id)
    # when
    seen_by_b, _ = await whole_feed(tenant.client, tenant.rep_b.email)
    seen_by_a, _ = await whole_feed(tenant.client, tenant.rep_a.email)
    # then
    assert [(e["topic"], e["recordId"]) for e in seen_by_b] == [
        ("customer.created", to_global_id("Customer", tenant.customer_b)),
        ("opportunity.created", to_global_id("Opportunity", tenant.opportunity_b)),
        ("opportunity.stage_moved", to_global_id("Opportunity", tenant.opportunity_b)),
    ]
    assert [e["topic"] for e in seen_by_a] == [
        "customer.created", "opportunity.created", "opportunity.stage_moved", "comment.added", "interaction.logged"]


async def test_no_event_of_another_org_ever_appears(db, gql, app, users):
    # given
    tenant = await new_tenant(db, gql)
    await published(app, db, tenant.org_id)
    # when
    own, _ = await whole_feed(tenant.client, tenant.admin.email)
    acme, _ = await whole_feed(gql, "admin@acme.test")
    demo, _ = await whole_feed(gql, "admin@demo.test")
    # then
    assert event_ids(own) == [e.id for e in await positioned_events(db, tenant.org_id)]
    assert await orgs_of(db, event_ids(own)) == {tenant.org_id}
    assert await orgs_of(db, event_ids(acme)) <= {users["admin@acme.test"].org_id}
    assert await orgs_of(db, event_ids(demo)) == {users["admin@demo.test"].org_id}
