"""0021: an org from before the built-in rules gets them, and its quiet customer reminds its owner once.
0024: an org from before the intent notice was a rule gets the rule, and its customer crossing into HIGH intent
tells the owner through it."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.db import Database, create_engine
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.clock import clock
from tandem.migrate import alembic_config, upgrade
from tandem.scheduler import Scheduler
from tandem.settings import Settings


async def test_an_org_from_before_gets_the_built_in_rules_and_its_quiet_customer_reminds_its_owner(database_url):
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
            # given an org at 0020 whose customer was last contacted 29 days ago
            await upgrade(database.engine, "0020")
            now = datetime.now(UTC)
            contacted = now - timedelta(days=29)
            async with database.engine.begin() as conn:
                org = (await conn.execute(text("INSERT INTO org (name, default_currency, created_at) "
                                               "VALUES ('旧公司', 'CNY', :t) RETURNING id"), {"t": contacted})).scalar()
                user = (await conn.execute(text(
                    "INSERT INTO app_user (org_id, email, name, roles, capacity, active, created_at) "
                    "VALUES (:o, 'old@old.test', '老王', '[\"sales_rep\"]', 5, true, :t) RETURNING id"),
                    {"o": org, "t": contacted})).scalar()
                customer = (await conn.execute(text(
                    "INSERT INTO customer (org_id, name, tags, tier, lifecycle_stage, owner_id, currency, "
                    "custom_fields, version, created_at, updated_at) VALUES (:o, '老客户', '[]', 'standard', "
                    "'customer', :u, 'CNY', '{}', 1, :t, :t) RETURNING id"),
                    {"o": org, "u": user, "t": contacted - timedelta(days=100)})).scalar()
                await conn.execute(text(
                    "INSERT INTO interaction (org_id, customer_id, kind, occurred_at, summary, created_by_id, "
                    "created_at) VALUES (:o, :c, 'call', :t, '上次拜访', :u, :t)"),
                    {"o": org, "c": customer, "u": user, "t": contacted})
            # when it is migrated
            await upgrade(database.engine)
            async with database.engine.connect() as conn:
                rules = (await conn.execute(text(
                    "SELECT object_type, trigger, enabled, built_in, author_id FROM workflow_rule WHERE org_id = :o "
                    "ORDER BY object_type, trigger"), {"o": org})).all()
            # then it has the built-in rules (the three reminders, and 0024's intent notice), enabled, authorless
            assert [tuple(r) for r in rules] == [("Contract", "DATE_RELATIVE", True, True, None),
                                                 ("Customer", "DATE_RELATIVE", True, True, None),
                                                 ("Customer", "EVENT", True, True, None),
                                                 ("Quote", "DATE_RELATIVE", True, True, None)]
            # and the scheduler's passes remind the owner once, when the 30 days are up and not before
            scheduler = Scheduler(database.engine)
            for days in (0.5, 1.5, 2.5):
                clock.set(now + timedelta(days=days))
                await scheduler.tick()
                async with database.engine.connect() as conn:
                    told = (await conn.execute(text(
                        "SELECT user_id, record_id FROM notification "
                        "WHERE org_id = :o AND topic = 'workflow.notified'"),
                        {"o": org})).all()
                assert [tuple(t) for t in told] == ([] if days < 1 else [(user, customer)])
        finally:
            clock.set(None)
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


async def downgrade(engine: Any, revision: str) -> None:
    def run(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def test_an_org_from_before_0024_gets_the_intent_rule_once_and_its_owner_hears_a_crossing_through_it(
        database_url):
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
            # given an org at 0023 with a rep and a customer
            await upgrade(database.engine, "0023")
            now = datetime.now(UTC)
            async with database.engine.begin() as conn:
                org = (await conn.execute(text("INSERT INTO org (name, default_currency, created_at) "
                                               "VALUES ('旧公司', 'CNY', :t) RETURNING id"), {"t": now})).scalar()
                user = (await conn.execute(text(
                    "INSERT INTO app_user (org_id, email, name, roles, capacity, active, created_at) "
                    "VALUES (:o, 'old@old.test', '老王', '[\"sales_rep\"]', 5, true, :t) RETURNING id"),
                    {"o": org, "t": now})).scalar()
                customer = (await conn.execute(text(
                    "INSERT INTO customer (org_id, name, tags, tier, lifecycle_stage, owner_id, currency, "
                    "custom_fields, version, created_at, updated_at) VALUES (:o, '老客户', '[]', 'standard', "
                    "'customer', :u, 'CNY', '{}', 1, :t, :t) RETURNING id"),
                    {"o": org, "u": user, "t": now})).scalar()
            # when it is migrated (twice over: down to 0023 and up again)
            await upgrade(database.engine)
            await downgrade(database.engine, "0023")
            await upgrade(database.engine)
            async with database.engine.connect() as conn:
                rules = (await conn.execute(text(
                    "SELECT object_type, trigger, enabled, built_in, author_id FROM workflow_rule WHERE org_id = :o"),
                    {"o": org})).all()
            # then it has the intent rule once, enabled, authorless
            assert [tuple(r) for r in rules] == [("Customer", "EVENT", True, True, None)]
            # and two meetings with its customer tell the owner through the rule
            rep = Actor(user_id=user, org_id=org, roles=frozenset({"sales_rep"}), email="old@old.test")
            for summary in ("技术交流会", "方案评审会"):
                async with database.write() as session:
                    await log_interaction(session, rep, InteractionInput(
                        customer_id=customer, kind=InteractionKind.MEETING, summary=summary))
            async with database.engine.connect() as conn:
                told = (await conn.execute(text(
                    "SELECT topic, user_id, record_id FROM notification WHERE org_id = :o"), {"o": org})).all()
            assert [tuple(t) for t in told] == [("workflow.notified", user, customer)]
        finally:
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()
