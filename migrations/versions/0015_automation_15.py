"""archive/restore for the core records, a lead's disqualify reason, contacts edited under a version (issue 13, item 6)

``archived_at`` on customer, contact, lead, opportunity, quote, contract, project and product: set while the
record is archived (out of lists and search, still found by id). ``lead.disqualify_reason``: why a lead was
made UNQUALIFIED. ``contact.version``: contacts are now edited (updateContact) with optimistic concurrency.
Policy: whoever may create contacts (sales reps and managers, service) may update them too; each org that has
rules for those roles gains ``Contact, update``, as the default policy now says.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 21:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.domain.shared.base

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)
ARCHIVABLE = ("customer", "contact", "lead", "opportunity", "quote", "contract", "project", "product")
CONTACT_EDITORS = ("sales_rep", "sales_manager", "service")
OBJ, ACT, EFT = "Contact", "update", "allow"


def upgrade() -> None:
    for table in ARCHIVABLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('archived_at', TIME, nullable=True))
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disqualify_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))

    bind = op.get_bind()
    changed: set[str] = set()
    for role in CONTACT_EDITORS:
        orgs = [row[0] for row in bind.execute(sa.text(
            "SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role"), {"role": role})]
        for org in orgs:
            exists = bind.execute(sa.text(
                "SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org AND v2 = :obj "
                "AND v3 = :act"), {"role": role, "org": org, "obj": OBJ, "act": ACT}).first()
            if exists:
                continue
            bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                                 "VALUES ('p', :role, :org, :obj, :act, :eft)"),
                         {"role": role, "org": org, "obj": OBJ, "act": ACT, "eft": EFT})
            changed.add(org)
    for org in changed:
        bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                             "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    op.get_bind().execute(sa.text(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v2 = :obj AND v3 = :act AND v4 = :eft"),
        {"obj": OBJ, "act": ACT, "eft": EFT})
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('version')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_column('disqualify_reason')
    for table in reversed(ARCHIVABLE):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('archived_at')
