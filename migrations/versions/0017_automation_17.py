"""workflow rules (issue 13): rules per org on a record type, the record of their runs, and the policy for them

Two tenant tables under row-level security. The default policy lets sales managers manage rules
(for their team's records: the domain enforces it) and read them; admins have everything. Each org that
has rules for sales managers gains those rows.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
WHEN = tandem.domain.shared.base.UtcDateTime(timezone=True)
POLICY = (("sales_manager", "WorkflowRule", "manage", "allow"), ("sales_manager", "WorkflowRule.*", "read", "allow"))


def upgrade() -> None:
    op.create_table(
        'workflow_rule',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('object_type', sa.String(length=40), nullable=False),
        sa.Column('trigger', sa.String(length=20), nullable=False),
        sa.Column('trigger_options', JSON, nullable=False),
        sa.Column('conditions', JSON, nullable=True),
        sa.Column('actions', JSON, nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('author_id', ID, nullable=False),
        sa.Column('limited', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('checked_until', WHEN, nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name=op.f('fk_workflow_rule_author_id_app_user')),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_workflow_rule_org_id_org'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_rule')),
    )
    with op.batch_alter_table('workflow_rule', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_rule_org_type', ['org_id', 'object_type', 'enabled'], unique=False)
    op.create_table(
        'workflow_run',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('rule_id', ID, nullable=False),
        sa.Column('rule_version', sa.Integer(), nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', ID, nullable=False),
        sa.Column('trigger', sa.String(length=20), nullable=False),
        sa.Column('topic', sa.String(length=80), nullable=True),
        sa.Column('matched', sa.Boolean(), nullable=False),
        sa.Column('condition_results', JSON, nullable=False),
        sa.Column('actions_done', JSON, nullable=False),
        sa.Column('errors', JSON, nullable=False),
        sa.Column('depth', sa.Integer(), nullable=False),
        sa.Column('at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_workflow_run_org_id_org'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rule_id'], ['workflow_rule.id'], name=op.f('fk_workflow_run_rule_id_workflow_rule'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_run')),
    )
    with op.batch_alter_table('workflow_run', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_run_rule', ['org_id', 'rule_id', 'at', 'id'], unique=False)
        batch_op.create_index('ix_workflow_run_record', ['org_id', 'record_type', 'record_id', 'at'], unique=False)

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        current_org = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
        for table in ('workflow_rule', 'workflow_run'):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {current_org}) "
                       f"WITH CHECK (org_id = {current_org})")

    changed: set[str] = set()
    for role, obj, act, eft in POLICY:
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
    for org in changed:
        bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                             "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    bind = op.get_bind()
    for role, obj, act, eft in POLICY:
        bind.execute(sa.text("DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v2 = :obj AND v3 = :act "
                             "AND v4 = :eft"), {"role": role, "obj": obj, "act": act, "eft": eft})
    with op.batch_alter_table('workflow_run', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_run_record')
        batch_op.drop_index('ix_workflow_run_rule')
    op.drop_table('workflow_run')
    with op.batch_alter_table('workflow_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_rule_org_type')
    op.drop_table('workflow_rule')
