"""policy: a user's external id (their identity provider's subject) is for admins to read

``User.externalId`` (0011) fell under every role's ``User.*`` read. Each org that has rules for the
other roles gains a read deny on it for them, as the default policy now says.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 19:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("sales_rep", "sales_manager", "project_manager", "finance", "service", "marketing")
OBJ, ACT, EFT = "User.externalId", "read", "deny"


def upgrade() -> None:
    bind = op.get_bind()
    changed: set[str] = set()
    for role in ROLES:
        orgs = [row[0] for row in bind.execute(sa.text(
            "SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role"), {"role": role})]
        for org in orgs:
            exists = bind.execute(sa.text(
                "SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org AND v2 = :obj "
                "AND v3 = :act"), {"role": role, "org": org, "obj": OBJ, "act": ACT}).first()
            if exists:
                continue
            bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                                 "VALUES ('p', :role, :org, :obj, :act, :eft)"),
                         {"role": role, "org": org, "obj": OBJ, "act": ACT, "eft": EFT})
            changed.add(org)
    for org in changed:
        bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                             "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    op.get_bind().execute(sa.text(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v2 = :obj AND v3 = :act AND v4 = :eft"),
        {"obj": OBJ, "act": ACT, "eft": EFT})
