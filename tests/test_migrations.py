import tempfile
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.authz.store import CasbinRule, PolicyVersion, seed_default_policy
from tandem.db import Database, create_engine
from tandem.domain.models import Base
from tandem.domain.tenancy.org import create_org
from tandem.migrate import upgrade
from tandem.settings import Settings


async def test_migrations_match_the_models(db):
    # given a database migrated to head (the `db` fixture ran `tandem migrate`)
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), Base.metadata)

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
                org = await create_org(session, name="Old Co")
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
                org = await create_org(session, name="Old Co")
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
