"""trusted documents: GraphQL documents an org's admin registered in advance

In trusted-documents mode (TANDEM_TRUSTED_DOCUMENTS) a request of an org's users runs only when its
document is in the deployment's manifest or registered here for the org (registerTrustedDocument),
known by the SHA-256 of its text. A tenant table: row-level security like every other.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.domain.shared.base

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'trusted_document',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('registered_by', ID, nullable=True),
        sa.Column('created_at', tandem.domain.shared.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_trusted_document_org_id_org'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['registered_by'], ['app_user.id'],
                                name=op.f('fk_trusted_document_registered_by_app_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trusted_document')),
        sa.UniqueConstraint('org_id', 'sha256', name=op.f('uq_trusted_document_org_id_sha256')),
    )
    if op.get_bind().dialect.name == "postgresql":
        current_org = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
        op.execute("ALTER TABLE trusted_document ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE trusted_document FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON trusted_document USING (org_id = {current_org}) "
                   f"WITH CHECK (org_id = {current_org})")


def downgrade() -> None:
    op.drop_table('trusted_document')
