"""Schema migrations (Alembic), run by `tandem migrate` and on every `tandem serve` start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem import migrations

MIGRATIONS_DIR = Path(migrations.__file__).parent
# Any constant: every app process that starts at once waits here, one migrates.
MIGRATION_LOCK = 7_263_001


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        await conn.run_sync(_run, "upgrade", revision)


async def revision(engine: AsyncEngine, message: str) -> None:
    """Autogenerate a new revision from the models (developers only)."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, "revision", message)


def _run(connection: Any, action: str, arg: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(cfg, arg)
    else:
        command.revision(cfg, message=arg, autogenerate=True)
