"""Several SLA policies per record type

An org may keep several policies for one record type, each with its conditions, tried in ``position`` order
(the first whose conditions match a record counts for it). ``sla_policy`` loses its one-per-kind unique key
and gains ``position``; the policies orgs already have keep theirs at 0.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 00:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sla_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_constraint('uq_sla_policy_org_id_kind', type_='unique')
        batch_op.create_index('ix_sla_policy_org_type', ['org_id', 'object_type', 'position'], unique=False)


def downgrade() -> None:
    # one policy per kind again: an org's later policies of a type go (their clocks with them)
    op.execute("DELETE FROM sla_clock WHERE policy_id IN (SELECT p.id FROM sla_policy p WHERE EXISTS ("
               "SELECT 1 FROM sla_policy q WHERE q.org_id = p.org_id AND q.kind = p.kind AND q.id < p.id))")
    op.execute("DELETE FROM sla_policy WHERE EXISTS (SELECT 1 FROM sla_policy q WHERE q.org_id = sla_policy.org_id "
               "AND q.kind = sla_policy.kind AND q.id < sla_policy.id)")
    with op.batch_alter_table('sla_policy', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_policy_org_type')
        batch_op.create_unique_constraint('uq_sla_policy_org_id_kind', ['org_id', 'kind'])
        batch_op.drop_column('position')
