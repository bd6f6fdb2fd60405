"""mutation writes: time loggers write their entries, assignees write their task's progress

Every mutation now passes its input's fields through the policy's field writes, logTime and updateTask
included. People who log time kept doing so, and an assignee of any role kept reporting progress on their
task, so every org that has rules for those roles gains the writes the default policy now gives them:
``TimeEntry.*`` for the roles that create time entries, ``Task.status`` and ``Task.percentComplete`` for
every role but the project manager's (which writes ``Task.*``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULES = [
    *((role, "TimeEntry.*", "write", "allow")
      for role in ("project_manager", "sales_rep", "sales_manager", "service", "marketing")),
    *((role, field, "write", "allow")
      for role in ("sales_rep", "sales_manager", "finance", "service", "marketing")
      for field in ("Task.status", "Task.percentComplete")),
]


def upgrade() -> None:
    bind = op.get_bind()
    changed: set[str] = set()
    for role, obj, act, eft in RULES:
        orgs = [row[0] for row in bind.execute(sa.text(
            "SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role"), {"role": role})]
        for org in orgs:
            exists = bind.execute(sa.text(
                "SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org AND v2 = :obj "
                "AND v3 = :act"), {"role": role, "org": org, "obj": obj, "act": act}).first()
            if exists:
                continue
            bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                                 "VALUES ('p', :role, :org, :obj, :act, :eft)"),
                         {"role": role, "org": org, "obj": obj, "act": act, "eft": eft})
            changed.add(org)
    for org in sorted(changed):
        bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                             "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    for role, obj, act, eft in RULES:
        op.get_bind().execute(sa.text(
            "DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v2 = :obj AND v3 = :act AND v4 = :eft"),
            {"role": role, "obj": obj, "act": act, "eft": eft})
