"""Built-in workflow rules: every existing org gets the reminders new orgs are seeded with

``workflow_rule`` gains ``built_in``, and its ``author_id`` may be empty (a built-in rule has no author: it
acts as the system). Each org gets, enabled and first in their record type's order: a customer not
contacted for 30 days reminds its owner; a contract still in approval or signing 3 days before it ends
reminds its owner; a quote that can still be accepted 2 days before it expires reminds its owner. Their
passes start now (``checked_until``): nothing already overdue is reminded of at once. A copy of
``domain/automation/seeded_rules.BUILT_IN_RULES`` as it stood: migrations do not import code that changes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 22:30:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)

BUILT_IN_RULES = (
    {"name": "客户 30 天未联系提醒 Customer not contacted in 30 days", "object_type": "Customer",
     "trigger": "DATE_RELATIVE", "trigger_options": {"dateField": "lastInteractionAt", "offsetHours": 720},
     "conditions": None,
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "客户「{{name}}」已 30 天未联系，请安排回访。"
                              "{{name}} has not been contacted for 30 days: time for a follow-up."}]},
    {"name": "合同到期前 3 天仍在签署提醒 Contract still in signing 3 days before it ends", "object_type": "Contract",
     "trigger": "DATE_RELATIVE", "trigger_options": {"dateField": "endDate", "offsetHours": -72},
     "conditions": {"field": "status", "op": "in", "value": ["pending_approval", "approved", "signing"]},
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "合同「{{title}}」({{number}}) 3 天后到期，仍未完成签署。"
                              "Contract {{title}} ({{number}}) ends in 3 days and is still not signed."}]},
    {"name": "报价 2 天后过期提醒 Quote expiring in 2 days", "object_type": "Quote",
     "trigger": "DATE_RELATIVE", "trigger_options": {"dateField": "validUntil", "offsetHours": -48},
     "conditions": {"field": "status", "op": "in", "value": ["pending_approval", "approved", "sent"]},
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "报价「{{title}}」({{number}}) 2 天后过期，客户尚未接受。"
                              "Quote {{title}} ({{number}}) expires in 2 days and is not accepted yet."}]},
)


def upgrade() -> None:
    with op.batch_alter_table('workflow_rule', schema=None) as batch_op:
        batch_op.add_column(sa.Column('built_in', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.alter_column('author_id', existing_type=ID, nullable=True)
    rule = sa.table('workflow_rule', sa.column('org_id', ID), sa.column('name', sa.String()),
                    sa.column('object_type', sa.String()), sa.column('trigger', sa.String()),
                    sa.column('trigger_options', JSON), sa.column('conditions', JSON), sa.column('actions', JSON),
                    sa.column('enabled', sa.Boolean()), sa.column('position', sa.Integer()),
                    sa.column('author_id', ID), sa.column('built_in', sa.Boolean()),
                    sa.column('limited', sa.Boolean()), sa.column('version', sa.Integer()),
                    sa.column('created_at', TIME), sa.column('updated_at', TIME), sa.column('checked_until', TIME))
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = [{**spec, "org_id": org_id, "enabled": True, "position": 0, "author_id": None, "built_in": True,
             "limited": False, "version": 1, "created_at": now, "updated_at": now, "checked_until": now}
            for org_id in bind.execute(sa.text("SELECT id FROM org ORDER BY id")).scalars()
            for spec in BUILT_IN_RULES]
    if rows:
        op.bulk_insert(rule, rows)


def downgrade() -> None:
    op.execute("DELETE FROM workflow_rule WHERE author_id IS NULL")
    with op.batch_alter_table('workflow_rule', schema=None) as batch_op:
        batch_op.alter_column('author_id', existing_type=ID, nullable=False)
        batch_op.drop_column('built_in')
