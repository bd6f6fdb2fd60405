"""outbox: a second timeline per event (a quote's moves also show on its opportunity's timeline)

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox_event") as batch:
        batch.add_column(sa.Column("also_type", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("also_id", ID, nullable=True))
        batch.create_index("ix_outbox_event_also", ["org_id", "also_type", "also_id", "position"])


def downgrade() -> None:
    with op.batch_alter_table("outbox_event") as batch:
        batch.drop_index("ix_outbox_event_also")
        batch.drop_column("also_id")
        batch.drop_column("also_type")
