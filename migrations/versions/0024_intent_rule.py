"""High intent notice as a built-in rule

Every existing org gets the built-in workflow rule that tells a customer's owner, live, when the customer
crosses into HIGH intent (an EVENT rule on ``intent.high``, NOTIFY OWNER), enabled and first in its record
type's order, unless it has it already. The crossing's event is now addressed to nobody: the rule is what
tells the owner, so an admin edits its template or switches it off. A copy of the last of
``domain/automation/seeded_rules.BUILT_IN_RULES`` as it stood: migrations do not import code that changes.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 00:40:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)

INTENT_RULE = {
    "name": "客户购买意向转高提醒 Customer shows high intent", "object_type": "Customer",
    "trigger": "EVENT", "trigger_options": {"topic": "intent.high"},
    "conditions": None,
    "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                 "template": "客户「{{name}}」购买意向转高，请尽快跟进。"
                             "{{name}} shows high intent: time to follow up."}],
}


def upgrade() -> None:
    rule = sa.table('workflow_rule', sa.column('org_id', ID), sa.column('name', sa.String()),
                    sa.column('object_type', sa.String()), sa.column('trigger', sa.String()),
                    sa.column('trigger_options', JSON), sa.column('conditions', JSON), sa.column('actions', JSON),
                    sa.column('enabled', sa.Boolean()), sa.column('position', sa.Integer()),
                    sa.column('author_id', ID), sa.column('built_in', sa.Boolean()),
                    sa.column('limited', sa.Boolean()), sa.column('version', sa.Integer()),
                    sa.column('created_at', TIME), sa.column('updated_at', TIME), sa.column('checked_until', TIME))
    bind = op.get_bind()
    orgs = bind.execute(sa.text(
        "SELECT id FROM org WHERE NOT EXISTS (SELECT 1 FROM workflow_rule r WHERE r.org_id = org.id "
        "AND r.author_id IS NULL AND r.name = :name) ORDER BY id"), {"name": INTENT_RULE["name"]}).scalars()
    now = datetime.now(UTC)
    rows = [{**INTENT_RULE, "org_id": org_id, "enabled": True, "position": 0, "author_id": None, "built_in": True,
             "limited": False, "version": 1, "created_at": now, "updated_at": now, "checked_until": now}
            for org_id in orgs]
    if rows:
        op.bulk_insert(rule, rows)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM workflow_rule WHERE author_id IS NULL AND name = :name")
               .bindparams(name=INTENT_RULE["name"]))
