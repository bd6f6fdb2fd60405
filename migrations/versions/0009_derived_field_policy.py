"""derived fields: project managers read contract amounts (a project's budget derives from them)

A field copied or derived from another is now readable only by roles that may read its source
(``Project.budget`` from ``Opportunity.amount`` and ``Contract.amount``). Project managers kept the
budget of their projects in view, so every org that has project-manager rules gains
``Contract.amount`` read for them, as the default policy now says.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULE = ("project_manager", "Contract.amount", "read", "allow")


def upgrade() -> None:
    bind = op.get_bind()
    role, obj, act, eft = RULE
    orgs = [row[0] for row in bind.execute(sa.text(
        "SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role"), {"role": role})]
    for org in orgs:
        exists = bind.execute(sa.text(
            "SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org AND v2 = :obj AND v3 = :act"),
            {"role": role, "org": org, "obj": obj, "act": act}).first()
        if exists:
            continue
        bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                             "VALUES ('p', :role, :org, :obj, :act, :eft)"),
                     {"role": role, "org": org, "obj": obj, "act": act, "eft": eft})
        bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                             "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    role, obj, act, eft = RULE
    op.get_bind().execute(sa.text(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v2 = :obj AND v3 = :act AND v4 = :eft"),
        {"role": role, "obj": obj, "act": act, "eft": eft})
