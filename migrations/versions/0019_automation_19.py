"""follow-up reminders and an opportunity's next step time (issue 13, items 3 and 5)

``follow_up``: a reminder on any record for one assignee, told once when it falls due (``notified_at``).
A tenant table: row-level security like every other. ``opportunity.next_step_at``: when the next step
is due (its owner's follow-up). Intent scores are computed from interactions and store nothing; who may
read ``Customer.intent`` follows from the interactions it is derived from (the registry), so no policy
rows are needed.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 21:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.domain.shared.base

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'follow_up',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', ID, nullable=False),
        sa.Column('due_at', TIME, nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('assignee_id', ID, nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('source', sa.String(length=40), nullable=True),
        sa.Column('created_by_id', ID, nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('completed_at', TIME, nullable=True),
        sa.Column('notified_at', TIME, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['assignee_id'], ['app_user.id'], name=op.f('fk_follow_up_assignee_id_app_user')),
        sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'],
                                name=op.f('fk_follow_up_created_by_id_app_user')),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_follow_up_org_id_org'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up')),
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index('ix_follow_up_assignee', ['org_id', 'assignee_id', 'status', 'due_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_follow_up_due', ['status', 'notified_at', 'due_at'], unique=False)
        batch_op.create_index('ix_follow_up_record', ['org_id', 'record_type', 'record_id'], unique=False)
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_step_at', TIME, nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        current_org = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
        op.execute("ALTER TABLE follow_up ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE follow_up FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON follow_up USING (org_id = {current_org}) "
                   f"WITH CHECK (org_id = {current_org})")


def downgrade() -> None:
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('next_step_at')
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_record')
        batch_op.drop_index('ix_follow_up_due')
        batch_op.drop_index('ix_follow_up_assignee')
    op.drop_table('follow_up')
