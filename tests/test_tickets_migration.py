"""0025: an org from before the service desk gets a queue per department and the default policy's ticket rows
(once, with a new policy version), so its service staff see every ticket and its marketing no internal notes."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from sqlalchemy import delete, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tandem.authz.store import CasbinRule, PolicyVersion, seed_default_policy
from tandem.db import Database, create_engine
from tandem.domain.tenancy.org import Org
from tandem.migrate import upgrade
from tandem.settings import Settings


async def test_an_org_from_before_the_service_desk_gets_its_queues_and_ticket_rules(database_url):
    ticket_rules = (CasbinRule.ptype == "p") & CasbinRule.v2.like("Ticket%")
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
            # given an org at 0024 whose policy has no ticket rules
            await upgrade(database.engine, "0024")
            async with database.write() as session:
                org = Org(name="旧公司 Old Co", default_currency="CNY")
                session.add(org)
                await session.flush()
                await seed_default_policy(session, org.id)
                await session.execute(delete(CasbinRule).where(ticket_rules))
                org_id = org.id
            async with database.read() as session:
                before = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org_id))
            # when it is migrated through 0025
            await upgrade(database.engine, "0025")
            # then it has one queue per department
            async with database.engine.connect() as conn:
                queues = (await conn.execute(text("SELECT department, name FROM ticket_queue WHERE org_id = :o "
                                                  "ORDER BY id"), {"o": org_id})).all()
            assert [q[0] for q in queues] == ["service", "sales", "marketing", "delivery"]
            assert queues[0][1] == "客服 Service desk"
            # and the ticket rules, with one new policy version
            async with database.read() as session:
                rows = {(r.v0, r.v2, r.v3, r.v4) for r in await session.scalars(
                    select(CasbinRule).where(ticket_rules, CasbinRule.v1 == str(org_id)))}
                after = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org_id))
            assert ("service", "Ticket", "read:org", "allow") in rows
            assert ("marketing", "Ticket.internalNotes", "read", "deny") in rows
            assert not any(r[0] == "finance" for r in rows)
            assert len(rows) == 19
            assert after == before + 1
        finally:
            await database.dispose()
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()
