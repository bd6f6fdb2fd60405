"""Service desk tickets, queues and messages

``ticket_queue`` (one per department for every org: the new ones get theirs from ``OrgCreated``, the existing
ones here), ``ticket`` and ``ticket_message``: tenant tables under row-level security like every other. The
default policy's service desk rows are added to every org that has a policy, with a new policy version.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 00:50:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import tandem.domain.shared.base

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)
TABLES = ("ticket_queue", "ticket", "ticket_message")
CURRENT_ORG = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
QUEUES = (("service", "客服 Service desk"), ("sales", "销售 Sales"), ("marketing", "市场 Marketing"),
          ("delivery", "交付 Delivery"))
"""A copy of domain/service/queue.py's DEFAULT_QUEUES as of this revision."""
RULES = (
    ("service", "Ticket", "read:org", "allow"), ("service", "Ticket", "create", "allow"),
    ("service", "Ticket", "update", "allow"), ("service", "Ticket.*", "read", "allow"),
    ("service", "Ticket.*", "write", "allow"),
    ("sales_rep", "Ticket", "read:own", "allow"), ("sales_rep", "Ticket", "update", "allow"),
    ("sales_rep", "Ticket.*", "read", "allow"), ("sales_rep", "Ticket.*", "write", "allow"),
    ("sales_manager", "Ticket", "read:team", "allow"), ("sales_manager", "Ticket", "update", "allow"),
    ("sales_manager", "Ticket.*", "read", "allow"), ("sales_manager", "Ticket.*", "write", "allow"),
    ("marketing", "Ticket", "read:org", "allow"), ("marketing", "Ticket.*", "read", "allow"),
    ("marketing", "Ticket.contact", "read", "deny"), ("marketing", "Ticket.internalNotes", "read", "deny"),
    ("project_manager", "Ticket", "read:own", "allow"), ("project_manager", "Ticket.*", "read", "allow"),
)
"""A copy of authz/policy.csv's service desk rows as of this revision."""


def upgrade() -> None:
    op.create_table(
        'ticket_queue',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('department', sa.String(length=20), nullable=False),
        sa.Column('team_id', ID, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ticket_queue_org_id_org'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_ticket_queue_team_id_team'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_queue')),
    )
    with op.batch_alter_table('ticket_queue', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_queue_org', ['org_id', 'department', 'id'], unique=False)

    op.create_table(
        'ticket',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('customer_id', ID, nullable=False),
        sa.Column('contact_id', ID, nullable=True),
        sa.Column('contract_id', ID, nullable=True),
        sa.Column('project_id', ID, nullable=True),
        sa.Column('opportunity_id', ID, nullable=True),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('category', sa.String(length=100), nullable=True),
        sa.Column('priority', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('queue_id', ID, nullable=False),
        sa.Column('assignee_id', ID, nullable=True),
        sa.Column('resolution', sa.Text(), nullable=True),
        sa.Column('created_by_id', ID, nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.Column('first_response_at', TIME, nullable=True),
        sa.Column('resolved_at', TIME, nullable=True),
        sa.Column('closed_at', TIME, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ticket_org_id_org'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_ticket_customer_id_customer')),
        sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_ticket_contact_id_contact')),
        sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_ticket_contract_id_contract')),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_ticket_project_id_project')),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'],
                                name=op.f('fk_ticket_opportunity_id_opportunity')),
        sa.ForeignKeyConstraint(['queue_id'], ['ticket_queue.id'], name=op.f('fk_ticket_queue_id_ticket_queue')),
        sa.ForeignKeyConstraint(['assignee_id'], ['app_user.id'], name=op.f('fk_ticket_assignee_id_app_user')),
        sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_ticket_created_by_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_org_status', ['org_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_ticket_queue', ['org_id', 'queue_id', 'status'], unique=False)
        batch_op.create_index('ix_ticket_customer', ['org_id', 'customer_id', 'id'], unique=False)
        batch_op.create_index('ix_ticket_assignee', ['org_id', 'assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_project_id'), ['project_id'], unique=False)

    op.create_table(
        'ticket_message',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('ticket_id', ID, nullable=False),
        sa.Column('internal', sa.Boolean(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('author_id', ID, nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ticket_message_org_id_org'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_message_ticket_id_ticket'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name=op.f('fk_ticket_message_author_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_message')),
    )
    with op.batch_alter_table('ticket_message', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_message_ticket', ['org_id', 'ticket_id', 'internal', 'id'], unique=False)

    _seed_queues()
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {CURRENT_ORG}) "
                       f"WITH CHECK (org_id = {CURRENT_ORG})")
    _grant()


def _seed_queues() -> None:
    queue = sa.table('ticket_queue', sa.column('org_id', ID), sa.column('name', sa.String()),
                     sa.column('department', sa.String()), sa.column('version', sa.Integer()),
                     sa.column('created_at', TIME))
    now = datetime.now(UTC)
    rows = [{"org_id": org_id, "name": name, "department": department, "version": 1, "created_at": now}
            for org_id in op.get_bind().execute(sa.text("SELECT id FROM org ORDER BY id")).scalars()
            for department, name in QUEUES]
    if rows:
        op.bulk_insert(queue, rows)


def _grant() -> None:
    bind = op.get_bind()
    orgs = [row[0] for row in bind.execute(sa.text("SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p'"))]
    for org in orgs:
        added = False
        for role, obj, act, eft in RULES:
            rule = {"role": role, "org": org, "obj": obj, "act": act, "eft": eft}
            if bind.execute(sa.text("SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org "
                                    "AND v2 = :obj AND v3 = :act"), rule).first():
                continue
            bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                                 "VALUES ('p', :role, :org, :obj, :act, :eft)"), rule)
            added = True
        if added:
            bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                                 "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    bind = op.get_bind()
    for role, obj, act, eft in RULES:
        bind.execute(sa.text("DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v2 = :obj AND v3 = :act "
                             "AND v4 = :eft"), {"role": role, "obj": obj, "act": act, "eft": eft})
    with op.batch_alter_table('ticket_message', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_message_ticket')
    op.drop_table('ticket_message')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_project_id'))
        batch_op.drop_index('ix_ticket_assignee')
        batch_op.drop_index('ix_ticket_customer')
        batch_op.drop_index('ix_ticket_queue')
        batch_op.drop_index('ix_ticket_org_status')
    op.drop_table('ticket')
    with op.batch_alter_table('ticket_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_queue_org')
    op.drop_table('ticket_queue')
