"""Where policies live: Casbin's rule table (through the Casbin SQLAlchemy adapter) and a
per-org policy version that every process polls, so a missed notification only delays a change."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from casbin import persist
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy import ForeignKey, Integer, String, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tandem.domain.shared.base import Base, IdType, utcnow

DEFAULT_POLICY = Path(__file__).with_name("policy.csv")
MODEL_CONF = Path(__file__).with_name("model.conf")


class CasbinRule(Base):
    """Casbin's own row shape (ptype, v0..v5). p: role, org, object, action, effect; g: role, role, org."""

    __tablename__ = "casbin_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ptype: Mapped[str] = mapped_column(String(10))
    v0: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v1: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    v2: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v3: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v4: Mapped[str | None] = mapped_column(String(255), nullable=True)
    v5: Mapped[str | None] = mapped_column(String(255), nullable=True)


class PolicyVersion(Base):
    __tablename__ = "policy_version"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgAdapter(Adapter):
    """The Casbin SQLAlchemy adapter, loading one org's lines only."""

    def __init__(self, engine: AsyncEngine, org_id: int, session: AsyncSession | None = None) -> None:
        super().__init__(engine, db_class=CasbinRule, db_session=session)
        self.org = str(org_id)

    async def load_policy(self, model: object) -> None:
        async with self._session_scope() as session:
            rows = await session.scalars(
                select(CasbinRule)
                .where(or_((CasbinRule.ptype == "p") & (CasbinRule.v1 == self.org),
                           (CasbinRule.ptype == "g") & (CasbinRule.v2 == self.org)))
                .order_by(CasbinRule.id)
            )
            for row in rows:
                values = [v for v in (row.v0, row.v1, row.v2, row.v3, row.v4, row.v5) if v is not None]
                persist.load_policy_line(", ".join([row.ptype, *values]), model)


def default_lines(org_id: int) -> list[tuple[str, list[str]]]:
    lines = []
    for raw in DEFAULT_POLICY.read_text(encoding="utf-8").splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        ptype, *values = [part.strip() for part in raw.split(",")]
        lines.append((ptype, [v.replace("{org}", str(org_id)) for v in values]))
    return lines


async def seed_default_policy(session: AsyncSession, org_id: int) -> None:
    """The default policy for a new org, in the caller's transaction. Safe to call twice."""
    if await session.get(PolicyVersion, org_id) is not None:
        return
    session.add(PolicyVersion(org_id=org_id, version=1, changed_at=utcnow()))
    await session.flush()  # a concurrent seeder fails here on the primary key
    for ptype, values in default_lines(org_id):
        session.add(CasbinRule(ptype=ptype, **{f"v{i}": v for i, v in enumerate(values)}))
    await session.flush()


async def current_version(session: AsyncSession, org_id: int) -> int | None:
    return await session.scalar(select(PolicyVersion.version).where(PolicyVersion.org_id == org_id))


async def bump_version(session: AsyncSession, org_id: int) -> None:
    await session.execute(
        update(PolicyVersion).where(PolicyVersion.org_id == org_id)
        .values(version=PolicyVersion.version + 1, changed_at=utcnow())
    )
