"""Custom fields on leads and contacts

Leads and contacts carry ``custom_fields`` (a JSON object, empty for the rows there are) as customers and
opportunities do; their definitions are ``custom_field_definition`` rows of entity ``lead`` or ``contact``.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 00:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TABLES = ('lead', 'contact')


def upgrade() -> None:
    # The default fills the rows there are (of every org: no UPDATE under row-level security), then goes: the
    # models write the column themselves.
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('custom_fields', JSON, nullable=False, server_default=sa.text("'{}'")))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('custom_fields', existing_type=JSON, existing_nullable=False, server_default=None)


def downgrade() -> None:
    # Row-level security binds the tables' owner too: every org's lead and contact definitions go without it.
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE custom_field_definition NO FORCE ROW LEVEL SECURITY")
    op.execute("DELETE FROM custom_field_definition WHERE entity IN ('lead', 'contact')")
    if postgres:
        op.execute("ALTER TABLE custom_field_definition FORCE ROW LEVEL SECURITY")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('custom_fields')
