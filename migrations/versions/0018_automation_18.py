"""routing: assignment rules, assignments, leave, the fallback owner; a lead's region and industry

Assignment rules (ordered per org, a round-robin turn on each row), the assignments they make (rule, method,
reason, response deadline), one leave period per user and one fallback owner per org are tenant tables under
row-level security like every other. Leads gain the region and industry they are routed on. Configuring
routing is the admins' (their ``*`` rule); sales managers may read the rules: each org that has rules for
them gains that row, as the default policy now says.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 21:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)
TABLES = ("assignment_rule", "record_assignment", "user_availability", "assignment_fallback")
CURRENT_ORG = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
OPEN_DEADLINE = "settled_at IS NULL AND response_due_at IS NOT NULL"
ROLE, OBJ, ACT, EFT = "sales_manager", "AssignmentRule", "read", "allow"


def upgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('industry', sa.String(length=100), nullable=True))

    op.create_table(
        'assignment_rule',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('object_type', sa.String(length=20), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('conditions', JSON, nullable=False),
        sa.Column('method', sa.String(length=20), nullable=False),
        sa.Column('member_ids', JSON, nullable=False),
        sa.Column('team_id', ID, nullable=True),
        sa.Column('respect_capacity', sa.Boolean(), nullable=False),
        sa.Column('skip_unavailable', sa.Boolean(), nullable=False),
        sa.Column('response_hours', sa.Float(), nullable=True),
        sa.Column('turn', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_assignment_rule_org_id_org'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_assignment_rule_team_id_team'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_rule')),
    )
    with op.batch_alter_table('assignment_rule', schema=None) as batch_op:
        batch_op.create_index('ix_assignment_rule_org_position', ['org_id', 'position'], unique=False)

    op.create_table(
        'record_assignment',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', ID, nullable=False),
        sa.Column('rule_id', ID, nullable=True),
        sa.Column('rule_name', sa.String(length=200), nullable=True),
        sa.Column('method', sa.String(length=20), nullable=True),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('code', sa.String(length=40), nullable=True),
        sa.Column('assignee_id', ID, nullable=False),
        sa.Column('previous_owner_id', ID, nullable=True),
        sa.Column('assigned_at', TIME, nullable=False),
        sa.Column('response_due_at', TIME, nullable=True),
        sa.Column('settled_at', TIME, nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_record_assignment_org_id_org'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rule_id'], ['assignment_rule.id'],
                                name=op.f('fk_record_assignment_rule_id_assignment_rule'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['assignee_id'], ['app_user.id'],
                                name=op.f('fk_record_assignment_assignee_id_app_user'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_record_assignment')),
    )
    with op.batch_alter_table('record_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_record_assignment_record', ['org_id', 'record_type', 'record_id', 'id'],
                              unique=False)
        batch_op.create_index('ix_record_assignment_response_due', ['response_due_at'], unique=False,
                              postgresql_where=sa.text(OPEN_DEADLINE), sqlite_where=sa.text(OPEN_DEADLINE))

    op.create_table(
        'user_availability',
        sa.Column('user_id', ID, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('away_from', TIME, nullable=False),
        sa.Column('away_until', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_user_availability_user_id_app_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_user_availability_org_id_org'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_availability')),
    )
    with op.batch_alter_table('user_availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_availability_org_id'), ['org_id'], unique=False)

    op.create_table(
        'assignment_fallback',
        sa.Column('org_id', ID, nullable=False),
        sa.Column('owner_id', ID, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_assignment_fallback_org_id_org'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_assignment_fallback_owner_id_app_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('org_id', name=op.f('pk_assignment_fallback')),
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {CURRENT_ORG}) "
                       f"WITH CHECK (org_id = {CURRENT_ORG})")
    _grant_managers_read()


def _grant_managers_read() -> None:
    bind = op.get_bind()
    rule = {"role": ROLE, "obj": OBJ, "act": ACT, "eft": EFT}
    orgs = [row[0] for row in bind.execute(sa.text(
        "SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role"), rule)]
    for org in orgs:
        if bind.execute(sa.text("SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org "
                                "AND v2 = :obj AND v3 = :act"), {**rule, "org": org}).first():
            continue
        bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                             "VALUES ('p', :role, :org, :obj, :act, :eft)"), {**rule, "org": org})
        bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                             "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    op.get_bind().execute(sa.text(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v2 = :obj AND v3 = :act AND v4 = :eft"),
        {"role": ROLE, "obj": OBJ, "act": ACT, "eft": EFT})
    op.drop_table('assignment_fallback')
    with op.batch_alter_table('user_availability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_availability_org_id'))
    op.drop_table('user_availability')
    with op.batch_alter_table('record_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_record_assignment_response_due')
        batch_op.drop_index('ix_record_assignment_record')
    op.drop_table('record_assignment')
    with op.batch_alter_table('assignment_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_assignment_rule_org_position')
    op.drop_table('assignment_rule')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_column('industry')
        batch_op.drop_column('region')
