"""0022: leads and contacts from before custom fields reached them get empty ones, take values after it, and
going back down drops the values and the lead and contact definitions (customers' stay)."""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.db import Database, create_engine
from tandem.domain.crm.lead import LeadInput, update_lead
from tandem.domain.pipeline.custom_field import CustomFieldType, define_custom_field
from tandem.domain.shared.actor import Actor
from tandem.migrate import alembic_config, upgrade
from tandem.settings import Settings


async def downgrade(engine: Any, revision: str) -> None:
    def run(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def _plain(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def test_leads_and_contacts_from_before_0022_get_empty_custom_fields_and_lose_them_going_back(database_url):
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
            # given an org at 0021 with a lead, and a customer with a contact
            await upgrade(database.engine, "0021")
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
                    "'customer', :u, 'CNY', '{}', 1, :t, :t) RETURNING id"), {"o": org, "u": user, "t": now})).scalar()
                await conn.execute(text(
                    "INSERT INTO contact (org_id, customer_id, name, is_decision_maker, version, created_at) "
                    "VALUES (:o, :c, '王经理', false, 1, :t)"), {"o": org, "c": customer, "t": now})
                lead = (await conn.execute(text(
                    "INSERT INTO lead (org_id, name, source, status, owner_id, version, created_at, updated_at) "
                    "VALUES (:o, '张三', 'website', 'new', :u, 1, :t, :t) RETURNING id"),
                    {"o": org, "u": user, "t": now})).scalar()
            # when it is migrated
            await upgrade(database.engine)
            # then its lead and contact have empty custom fields
            async with database.engine.connect() as conn:
                values = [_plain(v) for v in (await conn.scalars(text(
                    "SELECT custom_fields FROM lead WHERE org_id = :o UNION ALL "
                    "SELECT custom_fields FROM contact WHERE org_id = :o"), {"o": org})).all()]
            assert values == [{}, {}]
            # and the lead takes a value of a lead field defined now
            rep = Actor(user_id=user, org_id=org, roles=frozenset({"sales_rep"}), email="old@old.test")
            async with database.write() as session:
                for entity in ("lead", "customer"):
                    await define_custom_field(session, org, entity=entity, key="channel", label="渠道",
                                              type=CustomFieldType.TEXT)
                updated = await update_lead(session, rep, lead, 1, LeadInput(
                    name=None, custom_fields={"channel": "展会"}, set_fields={"custom_fields"}))
                assert updated.custom_fields == {"channel": "展会"}
            # when it goes back to 0021
            await downgrade(database.engine, "0021")
            # then the lead definition is gone and the customer's stays
            async with database.engine.connect() as conn:
                entities = (await conn.scalars(text(
                    "SELECT entity FROM custom_field_definition WHERE org_id = :o"), {"o": org})).all()
            assert entities == ["customer"]
            # and up again, the lead starts empty
            await upgrade(database.engine)
            async with database.engine.connect() as conn:
                again = _plain(await conn.scalar(text("SELECT custom_fields FROM lead WHERE id = :l"), {"l": lead}))
            assert again == {}
        finally:
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()
