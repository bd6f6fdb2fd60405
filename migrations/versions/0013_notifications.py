"""notifications: each user's inbox, kept beyond the outbox's retention and marked read

One row per recipient of an outbox event addressed to people (mentions, assignments, reminders,
escalations, approvals), written in the event's transaction. A tenant table: row-level security like
every other.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'notification',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('event_id', ID, nullable=False),
        sa.Column('topic', sa.String(length=80), nullable=False),
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', ID, nullable=False),
        sa.Column('timeline_type', sa.String(length=40), nullable=True),
        sa.Column('timeline_id', ID, nullable=True),
        sa.Column('payload', JSON, nullable=False),
        sa.Column('actor_id', ID, nullable=True),
        sa.Column('created_at', tandem.domain.shared.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column('read_at', tandem.domain.shared.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_notification_org_id_org'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_notification_user_id_app_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_inbox', ['org_id', 'user_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_notification_unread', ['org_id', 'user_id', 'read_at'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        current_org = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
        op.execute("ALTER TABLE notification ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE notification FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON notification USING (org_id = {current_org}) "
                   f"WITH CHECK (org_id = {current_org})")


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_unread')
        batch_op.drop_index('ix_notification_inbox')
    op.drop_table('notification')
