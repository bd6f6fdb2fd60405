"""SLA policies on any record: the policy's new shape, each record's SLA clock, the org's working calendar

``sla_policy`` gains the record type it is about, its conditions, what starts, stops and pauses a clock,
its target, calendar and escalations. The rows orgs already have (action items, invoices, tasks) become
policies of this one shape and keep their settings: their record type, their due hours as the target,
their escalation interval as one escalation to the owner's manager. ``sla_clock`` (one per policy and
record) and ``org_calendar`` (one per org) are tenant tables under row-level security like every other.
Configuring SLAs stays the admins' (``Policy manage``): no policy rows change.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 22:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)
CURRENT_ORG = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
KIND_TYPES = {"action_item": "ActionItem", "invoice": "Invoice", "task": "Task"}


def upgrade() -> None:
    with op.batch_alter_table('sla_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_type', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('conditions', JSON, nullable=True))
        batch_op.add_column(sa.Column('start_on', JSON, nullable=True))
        batch_op.add_column(sa.Column('stop_on', JSON, nullable=True))
        batch_op.add_column(sa.Column('pause_on', JSON, nullable=True))
        batch_op.add_column(sa.Column('target_hours', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('calendar', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('escalations', JSON, nullable=True))
        batch_op.add_column(sa.Column('updated_at', TIME, nullable=True))
    bind = op.get_bind()
    policy = sa.table('sla_policy', sa.column('id', ID), sa.column('object_type', sa.String()),
                      sa.column('start_on', JSON), sa.column('stop_on', JSON), sa.column('pause_on', JSON),
                      sa.column('target_hours', sa.Float()), sa.column('calendar', sa.String()),
                      sa.column('escalations', JSON))
    rows = bind.execute(sa.text("SELECT id, kind, due_hours, escalate_after_hours FROM sla_policy")).all()
    for pk, kind, due_hours, after in rows:
        bind.execute(policy.update().where(policy.c.id == pk).values(
            object_type=KIND_TYPES.get(kind, kind), start_on=[], stop_on=[], pause_on=[], target_hours=due_hours,
            calendar='ALWAYS', escalations=[{"afterHours": after, "to": "OWNER_MANAGER"}]))
    with op.batch_alter_table('sla_policy', schema=None) as batch_op:
        for column in ('object_type', 'start_on', 'stop_on', 'pause_on', 'calendar', 'escalations'):
            batch_op.alter_column(column, nullable=False)

    op.create_table(
        'sla_clock',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('policy_id', ID, nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', ID, nullable=False),
        sa.Column('started_at', TIME, nullable=False),
        sa.Column('running_since', TIME, nullable=True),
        sa.Column('paused_since', TIME, nullable=True),
        sa.Column('stopped_at', TIME, nullable=True),
        sa.Column('elapsed_hours', sa.Float(), nullable=False),
        sa.Column('breached_at', TIME, nullable=True),
        sa.Column('escalated', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_sla_clock_org_id_org'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['policy_id'], ['sla_policy.id'], name=op.f('fk_sla_clock_policy_id_sla_policy'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clock')),
        sa.UniqueConstraint('policy_id', 'record_type', 'record_id',
                            name=op.f('uq_sla_clock_policy_id_record_type_record_id')),
    )
    with op.batch_alter_table('sla_clock', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clock_record', ['org_id', 'record_type', 'record_id'], unique=False)
    op.create_table(
        'org_calendar',
        sa.Column('org_id', ID, nullable=False),
        sa.Column('weekend_days', JSON, nullable=False),
        sa.Column('holidays', JSON, nullable=False),
        sa.Column('day_start_hour', sa.Integer(), nullable=False),
        sa.Column('day_end_hour', sa.Integer(), nullable=False),
        sa.Column('time_zone', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_org_calendar_org_id_org'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('org_id', name=op.f('pk_org_calendar')),
    )
    if bind.dialect.name == "postgresql":
        for table in ("sla_clock", "org_calendar"):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {CURRENT_ORG}) "
                       f"WITH CHECK (org_id = {CURRENT_ORG})")


def downgrade() -> None:
    op.drop_table('org_calendar')
    with op.batch_alter_table('sla_clock', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clock_record')
    op.drop_table('sla_clock')
    with op.batch_alter_table('sla_policy', schema=None) as batch_op:
        for column in ('updated_at', 'escalations', 'calendar', 'target_hours', 'pause_on', 'stop_on', 'start_on',
                       'conditions', 'object_type'):
            batch_op.drop_column(column)
