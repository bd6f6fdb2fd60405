"""Tenant isolation below the application. On PostgreSQL the API works as role tandem_app under
row-level security: every tenant table is forced, with no org set nothing is visible, with an org
set only that org's rows are, and a row for another org cannot be written. The embedded default
(SQLite) has no such net: there the API's own statements must name the org, and they are checked."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from sqlalchemy import event, text, update
from sqlalchemy.exc import DBAPIError

from tandem.db import APP_ROLE
from tandem.domain.crm.customer import Customer
from tandem.domain.shared.clock import clock

PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
postgres_only = pytest.mark.skipif(not PG_URL, reason="row-level security is PostgreSQL's; "
                                                      "set TANDEM_TEST_DATABASE_URL")
INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE of a row refused by a policy's WITH CHECK

TENANT_TABLES = """
SELECT c.table_name FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = 'public' AND c.column_name = 'org_id' AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name
"""

ROW_SECURITY = """
SELECT c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname),
       (SELECT bool_and(p.qual LIKE '%current_setting(''tandem.org_id''%'
                        AND p.with_check LIKE '%current_setting(''tandem.org_id''%')
        FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname = :table
"""

CUSTOMERS = """
{
  customers(first: 20) {
    totalCount
    edges { node {
      id name owner { name team { name } }
      contacts(first: 5) { edges { node { name } } }
      interactions(last: 5) { edges { node { summary loggedBy { name } } } }
      opportunities(first: 5) { edges { node { name stageHistory { toStage changedBy { name } } } } }
    } }
  }
}"""

OPPORTUNITIES = """
{
  opportunities(first: 20) { totalCount edges { node { id name customer { name } owner { name } } } }
  leads(first: 20) { totalCount edges { node { id name owner { name } } } }
  me { name manager { name } }
  myOrg { name }
  pipeline { key }
}"""


async def tenant_tables(db) -> list[str]:
    async with db.read() as session:
        return list(await session.scalars(text(TENANT_TABLES)))


async def owner_count(db, table: str, org_id: int | None = None) -> int:
    column = "id" if table == "org" else "org_id"
    where = "" if org_id is None else f" WHERE {column} = :org"
    async with db.read() as session:
        return await session.scalar(text(f"SELECT count(*) FROM {table}{where}"), {"org": org_id})


# --- PostgreSQL: the schema ------------------------------------------------------------------


@postgres_only
async def test_every_tenant_table_forces_row_level_security_with_an_org_policy(db):
    # given: every table with an org_id column, and the org table itself
    tables = [*await tenant_tables(db), "org"]
    assert {"app_user", "customer", "contact", "interaction", "lead", "opportunity", "outbox_event"} <= set(tables)
    # when
    found = {}
    async with db.read() as session:
        for table in tables:
            found[table] = tuple((await session.execute(text(ROW_SECURITY), {"table": table})).one())
    # then: (row security on, forced, policies, each using and checking tandem.org_id)
    wrong = {table: state for table, state in found.items()
             if not (state[0] and state[1] and state[2] >= 1 and state[3])}
    assert wrong == {}


@postgres_only
async def test_api_works_as_a_role_that_is_no_superuser_has_no_bypassrls_and_owns_nothing(app, db):
    # when
    async with db.read() as session:
        role = (await session.execute(text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": APP_ROLE})).one()
        owned = await session.scalar(text(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = :role)"),
            {"role": APP_ROLE})
    api_users = []
    for _ in range(3):  # the role must hold on every checkout of a pooled connection, not the first only
        async with app.state.db.read() as session:
            api_users.append(await session.scalar(text("SELECT current_user")))
    # then
    assert tuple(role) == (False, False)
    assert owned == 0
    assert api_users == [APP_ROLE] * 3


# --- PostgreSQL: the API's connection --------------------------------------------------------


@postgres_only
async def test_without_an_org_the_api_sees_no_rows_at_all(app, db):
    # given
    tables = [*await tenant_tables(db), "org"]
    assert await owner_count(db, "customer") > 0
    # when
    async with app.state.db.read() as session:
        counts = {t: await session.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}
    # then
    assert counts == dict.fromkeys(tables, 0)


@postgres_only
@pytest.mark.parametrize("org", ["admin@demo.test", "admin@acme.test"])
async def test_with_an_org_set_the_api_sees_that_orgs_rows_without_a_where(app, db, users, org):
    # given
    org_id = users[org].org_id
    tables = [*await tenant_tables(db), "org"]
    expected = {t: await owner_count(db, t, org_id) for t in tables}
    assert expected["customer"] > 0
    # when
    async with app.state.db.read(org_id) as session:
        counts = {t: await session.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}
        orgs = list(await session.scalars(text("SELECT DISTINCT org_id FROM customer")))
    # then
    assert counts == expected
    assert orgs == [org_id]


@postgres_only
async def test_inserting_a_row_for_another_org_is_refused(app, db, users):
    # given
    acme = users["admin@acme.test"]
    demo = users["admin@demo.test"]
    before = await owner_count(db, "customer", demo.org_id)
    now = clock.now()
    # when
    with pytest.raises(DBAPIError) as refused:
        async with app.state.db.write(acme.org_id) as session:
            session.add(Customer(org_id=demo.org_id, name="Planted by Acme", tags=[], owner_id=demo.id,
                                 currency="CNY", custom_fields={}, created_at=now, updated_at=now))
    # then
    assert refused.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE
    assert await owner_count(db, "customer", demo.org_id) == before


@postgres_only
async def test_moving_a_row_to_another_org_is_refused(app, db, users):
    # given
    acme = users["admin@acme.test"]
    demo = users["admin@demo.test"]
    before = (await owner_count(db, "customer", acme.org_id), await owner_count(db, "customer", demo.org_id))
    # when
    with pytest.raises(DBAPIError) as refused:
        async with app.state.db.write(acme.org_id) as session:
            await session.execute(update(Customer).where(Customer.org_id == acme.org_id)
                                  .values(org_id=demo.org_id).execution_options(synchronize_session=False))
    # then
    assert refused.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE
    assert (await owner_count(db, "customer", acme.org_id), await owner_count(db, "customer", demo.org_id)) == before


# --- both backends: the API's statements name the org (all the embedded default has) ---------


async def statements_of(app, gql, document: str, as_: str) -> tuple[list[str], dict[str, Any]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.state.db.engine.sync_engine
    app.state.policies.invalidate()  # the policy lookups count too
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = await gql(document, as_=as_)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements, result


def unfiltered(statements: list[str], tables: set[str]) -> list[str]:
    """Statements reading or writing a tenant table without naming an org."""
    out = []
    for statement in statements:
        named = {m.lower() for m in re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)", statement, re.I)}
        names_org = re.search(r"\borg_id\s*(=|IN\b)" if not statement.lstrip().upper().startswith("INSERT")
                              else r"\(([^)]*\b)?org_id\b", statement, re.I)
        if named & tables and not names_org:
            out.append(statement)
        elif "org" in named and not re.search(r"\borg\.id\s*=", statement):
            out.append(statement)
    return out


@pytest.mark.parametrize("document", [CUSTOMERS, OPPORTUNITIES], ids=["customers", "opportunities"])
@pytest.mark.parametrize("who", ["admin@acme.test", "rep1@demo.test", "manager@demo.test"])
async def test_every_statement_the_api_sends_names_the_org(app, gql, document, who):
    # given
    tables = {t.name for t in Customer.metadata.sorted_tables if "org_id" in t.c}
    # when
    statements, result = await statements_of(app, gql, document, who)
    # then
    assert "errors" not in result, result
    assert statements
    assert unfiltered(statements, tables) == []


async def test_acme_customers_page_holds_exactly_acmes_rows(gql, db, users):
    # given
    async with db.read() as session:
        acme = sorted(await session.scalars(text("SELECT name FROM customer WHERE org_id = :org"),
                                          {"org": users["admin@acme.test"].org_id}))
    # when
    result = await gql("{ customers(first: 100) { totalCount edges { node { name } } } }", as_="admin@acme.test")
    # then
    page = result["data"]["customers"]
    assert sorted(e["node"]["name"] for e in page["edges"]) == acme
    assert page["totalCount"] == len(acme)


@postgres_only
async def test_a_connection_a_kept_statement_set_to_an_org_is_set_back_before_anything_else_uses_it(app, gql, users):
    # given a query answered three times, the last by its kept statement (which sets the org on its connection)
    query = "{ opportunities(first: 2) { edges { node { name customer { name } } } } }"
    before = app.state.compiled_reads.answered_known
    for _ in range(3):
        answer = await gql(query, as_="admin@demo.test")
        assert answer["data"]["opportunities"]["edges"]
    assert app.state.compiled_reads.answered_known > before
    # when every pooled connection of the API is taken at once, naming no org
    engine = app.state.db.engine
    connections = [await engine.connect().start() for _ in range(engine.pool.checkedin())]
    try:
        # then none of them carries an org any more, and none sees a single row
        for conn in connections:
            assert (await conn.execute(text("SELECT current_setting('tandem.org_id', true)"))).scalar() in (None, "")
            assert (await conn.execute(text("SELECT count(*) FROM opportunity"))).scalar_one() == 0
    finally:
        for conn in connections:
            await conn.close()
    # and the kept statement still answers the same afterwards (its connection sets the org again)
    assert (await gql(query, as_="admin@demo.test"))["data"] == answer["data"]
