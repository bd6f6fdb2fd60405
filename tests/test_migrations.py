import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.authz.store import CasbinRule, PolicyVersion, seed_default_policy
from tandem.db import Database, create_engine
from tandem.domain.knowledge.search import UNMAPPED_TABLES
from tandem.domain.models import Base
from tandem.domain.tenancy.org import Org
from tandem.migrate import upgrade
from tandem.settings import Settings


async def _old_org(session) -> Org:
    """An org row as any revision has it, without the reactions of today's ``create_org`` (their tables may be
    newer than the revision under test)."""
    org = Org(name="Old Co", default_currency="CNY")
    session.add(org)
    await session.flush()
    return org


async def test_migrations_match_the_models(db):
    # given a database migrated to head (the `db` fixture ran `tandem migrate`)
    def diff(connection):
        def mapped(name, type_, _parents):  # the search index is kept by raw SQL (domain/knowledge/search.py)
            return not (type_ == "table" and name in UNMAPPED_TABLES)

        context = MigrationContext.configure(connection, opts={"compare_type": False, "include_name": mapped})
        return compare_metadata(context, Base.metadata)

    # when the models are compared with it
    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    # then nothing is missing: every model change comes with a migration
    assert changes == []


async def test_an_org_created_before_derived_fields_keeps_its_project_managers_budget_view(database_url):
    """0009: orgs whose policy predates derived-field guarding gain ``Contract.amount`` read for
    project managers (a project's budget derives from it), once, with a new policy version."""
    rule = (CasbinRule.ptype == "p") & (CasbinRule.v0 == "project_manager") & (CasbinRule.v2 == "Contract.amount")
    with tempfile.TemporaryDirectory() as tmp:
        if database_url.startswith("sqlite"):
            url, admin, name = f"sqlite+aiosqlite:///{Path(tmp) / 'old.db'}", None, None
        else:
            name = f"tandem_mig_{uuid.uuid4().hex[:10]}"
            admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        database = Database(create_engine(Settings(database_url=url)))
        try:
            # given an org whose policy was copied before 0009 (its project managers lack the rule)
            await upgrade(database.engine, "0008")
            async with database.write() as session:
                org = await _old_org(session)
                await seed_default_policy(session, org.id)
                await session.execute(delete(CasbinRule).where(rule))
            async with database.read() as session:
                before = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org.id))
            # when
            await upgrade(database.engine)
            # then
            async with database.read() as session:
                rows = list(await session.scalars(select(CasbinRule).where(rule, CasbinRule.v1 == str(org.id))))
                after = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org.id))
            assert [(r.v3, r.v4) for r in rows] == [("read", "allow")]
            assert after == before + 1
        finally:
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


async def test_an_org_created_before_mutation_writes_keeps_logging_time_and_reporting_progress(database_url):
    """0010: orgs whose policy predates field-write checks on every mutation gain ``TimeEntry.*`` write
    for the roles that log time and ``Task.status``/``Task.percentComplete`` write for assignees, once,
    with one new policy version."""
    added = (CasbinRule.ptype == "p") & (CasbinRule.v3 == "write") & CasbinRule.v2.in_(
        ("TimeEntry.*", "Task.status", "Task.percentComplete"))
    with tempfile.TemporaryDirectory() as tmp:
        if database_url.startswith("sqlite"):
            url, admin, name = f"sqlite+aiosqlite:///{Path(tmp) / 'old.db'}", None, None
        else:
            name = f"tandem_mig_{uuid.uuid4().hex[:10]}"
            admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        database = Database(create_engine(Settings(database_url=url)))
        try:
            # given an org whose policy was copied before 0010 (none of the writes it adds)
            await upgrade(database.engine, "0009")
            async with database.write() as session:
                org = await _old_org(session)
                await seed_default_policy(session, org.id)
                await session.execute(delete(CasbinRule).where(added))
            async with database.read() as session:
                before = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org.id))
            # when
            await upgrade(database.engine)
            # then
            async with database.read() as session:
                rows = list(await session.scalars(select(CasbinRule).where(added, CasbinRule.v1 == str(org.id))))
                after = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org.id))
            assert sorted((r.v0, r.v2) for r in rows) == sorted(
                [(role, "TimeEntry.*") for role in ("project_manager", "sales_rep", "sales_manager", "service",
                                                    "marketing")]
                + [(role, field) for role in ("sales_rep", "sales_manager", "finance", "service", "marketing")
                   for field in ("Task.status", "Task.percentComplete")])
            assert after == before + 1
        finally:
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


async def test_existing_stages_and_deals_move_into_each_orgs_default_pipeline(database_url):
    """0016: every org gets a default pipeline holding the stages it had, its deals belong to it, and custom
    field types take their new names (choice -> select, boolean -> bool)."""
    with tempfile.TemporaryDirectory() as tmp:
        if database_url.startswith("sqlite"):
            url, admin, name = f"sqlite+aiosqlite:///{Path(tmp) / 'old.db'}", None, None
        else:
            name = f"tandem_mig_{uuid.uuid4().hex[:10]}"
            admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        database = Database(create_engine(Settings(database_url=url)))
        try:
            # given an org at 0015 with two stages, a deal in one and two custom fields of the old types
            await upgrade(database.engine, "0015")
            now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
            async with database.engine.begin() as conn:
                org = (await conn.execute(text("INSERT INTO org (name, default_currency, created_at) "
                                               "VALUES ('旧公司', 'CNY', :t) RETURNING id"), {"t": now})).scalar()
                await conn.execute(text(
                    "INSERT INTO pipeline_stage (org_id, key, label, position, probability, is_won, is_closed) VALUES "
                    "(:o, 'proposal', '方案报价', 0, 40, false, false), (:o, 'won', '已签约', 1, 100, true, true)"),
                    {"o": org})
                user = (await conn.execute(text(
                    "INSERT INTO app_user (org_id, email, name, roles, capacity, active, created_at) "
                    "VALUES (:o, 'old@old.test', '老王', '[\"sales_rep\"]', 5, true, :t) RETURNING id"),
                    {"o": org, "t": now})).scalar()
                customer = (await conn.execute(text(
                    "INSERT INTO customer (org_id, name, tags, tier, lifecycle_stage, owner_id, currency, "
                    "custom_fields, version, created_at, updated_at) VALUES (:o, '老客户', '[]', 'standard', "
                    "'customer', :u, 'CNY', '{}', 1, :t, :t) RETURNING id"), {"o": org, "u": user, "t": now})).scalar()
                await conn.execute(text(
                    "INSERT INTO opportunity (org_id, customer_id, owner_id, name, stage_key, amount, currency, "
                    "probability, milestones, custom_fields, version, created_at, updated_at, stage_changed_at) "
                    "VALUES (:o, :c, :u, '老项目', 'proposal', 1000, 'CNY', 40, '[]', '{}', 1, :t, :t, :t)"),
                    {"o": org, "c": customer, "u": user, "t": now})
                await conn.execute(text(
                    "INSERT INTO custom_field_definition (org_id, entity, key, label, type, choices, required) VALUES "
                    "(:o, 'opportunity', 'region', '区域', 'choice', '[\"华东\"]', false), "
                    "(:o, 'customer', 'vip', 'VIP', 'boolean', '[]', false)"), {"o": org})
            # when
            await upgrade(database.engine)
            # then
            async with database.engine.connect() as conn:
                pipelines = (await conn.execute(text("SELECT id, key, is_default FROM pipeline WHERE org_id = :o"),
                                                {"o": org})).all()
                [(pipeline_id, key, is_default)] = pipelines
                stages = (await conn.execute(text(
                    "SELECT key, pipeline_id FROM pipeline_stage WHERE org_id = :o ORDER BY position"),
                    {"o": org})).all()
                deals = (await conn.execute(text("SELECT pipeline_id, stage_key FROM opportunity WHERE org_id = :o"),
                                            {"o": org})).all()
                types = dict((await conn.execute(text(
                    "SELECT key, type FROM custom_field_definition WHERE org_id = :o"), {"o": org})).all())
            assert (key, bool(is_default)) == ("default", True)
            assert [tuple(s) for s in stages] == [("proposal", pipeline_id), ("won", pipeline_id)]
            assert [tuple(d) for d in deals] == [(pipeline_id, "proposal")]
            assert types == {"region": "select", "vip": "bool"}
        finally:
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()
