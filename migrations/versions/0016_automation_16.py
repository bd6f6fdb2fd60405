"""pipeline configuration: pipelines per business line, stage required fields, lost reasons, competitors

Every org gets a default pipeline holding its existing stages, and every existing opportunity belongs to it.
Stage keys become unique per pipeline (not per org). Custom field types take their new names (boolean ->
bool, choice -> select). Opportunities gain a structured lost reason and competitor references; the free
text lost reason stays. New tenant tables: row-level security like every other.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 21:30:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tandem.domain.shared.base

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
NOW = tandem.domain.shared.base.UtcDateTime(timezone=True)
CURRENT_ORG = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
BACKFILLED = ("pipeline_stage", "opportunity", "custom_field_definition")


def _tenant_table(name: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {name} USING (org_id = {CURRENT_ORG}) "
                   f"WITH CHECK (org_id = {CURRENT_ORG})")


def _forced(on: bool) -> None:
    """Row-level security binds the tables' owner too: the backfill of every org's rows runs without it."""
    if op.get_bind().dialect.name == "postgresql":
        for table in BACKFILLED:
            op.execute(f"ALTER TABLE {table} {'' if on else 'NO '}FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    op.create_table(
        'pipeline',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('created_at', NOW, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_pipeline_org_id_org'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline')),
        sa.UniqueConstraint('org_id', 'key', name=op.f('uq_pipeline_org_id_key')),
    )
    with op.batch_alter_table('pipeline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_org_id'), ['org_id'], unique=False)
    op.create_table(
        'lost_reason',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('created_at', NOW, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_lost_reason_org_id_org'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lost_reason')),
        sa.UniqueConstraint('org_id', 'key', name=op.f('uq_lost_reason_org_id_key')),
    )
    with op.batch_alter_table('lost_reason', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lost_reason_org_id'), ['org_id'], unique=False)
    op.create_table(
        'competitor',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('website', sa.String(length=300), nullable=True),
        sa.Column('created_at', NOW, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_competitor_org_id_org'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_competitor')),
        sa.UniqueConstraint('org_id', 'name', name=op.f('uq_competitor_org_id_name')),
    )
    with op.batch_alter_table('competitor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_competitor_org_id'), ['org_id'], unique=False)

    # every org's default pipeline, before row-level security covers the new table
    bind = op.get_bind()
    orgs = [row[0] for row in bind.execute(sa.text("SELECT id FROM org"))]
    pipeline = sa.table('pipeline', sa.column('org_id', ID), sa.column('key', sa.String),
                        sa.column('name', sa.String), sa.column('is_default', sa.Boolean),
                        sa.column('created_at', NOW))
    if orgs:
        now = datetime.now(UTC)
        op.bulk_insert(pipeline, [{"org_id": org, "key": "default", "name": "默认销售流程", "is_default": True,
                                   "created_at": now} for org in orgs])
    for table in ('pipeline', 'lost_reason', 'competitor'):
        _tenant_table(table)

    _forced(False)
    with op.batch_alter_table('pipeline_stage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pipeline_id', ID, nullable=True))
        batch_op.add_column(sa.Column('required_fields', JSON, nullable=True))
    op.execute("UPDATE pipeline_stage SET pipeline_id = (SELECT p.id FROM pipeline p WHERE p.org_id = "
               "pipeline_stage.org_id AND p.is_default)")
    stage = sa.table('pipeline_stage', sa.column('required_fields', JSON))
    op.execute(stage.update().values(required_fields=[]))
    with op.batch_alter_table('pipeline_stage', schema=None) as batch_op:
        batch_op.alter_column('pipeline_id', existing_type=ID, nullable=False)
        batch_op.alter_column('required_fields', existing_type=JSON, nullable=False)
        batch_op.drop_constraint('uq_pipeline_stage_org_id_key', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_pipeline_stage_pipeline_id_key'), ['pipeline_id', 'key'])
        batch_op.create_index(batch_op.f('ix_pipeline_stage_pipeline_id'), ['pipeline_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_pipeline_stage_pipeline_id_pipeline'), 'pipeline',
                                    ['pipeline_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pipeline_id', ID, nullable=True))
        batch_op.add_column(sa.Column('lost_reason_id', ID, nullable=True))
        batch_op.add_column(sa.Column('competitor_ids', JSON, nullable=True))
    op.execute("UPDATE opportunity SET pipeline_id = (SELECT p.id FROM pipeline p WHERE p.org_id = "
               "opportunity.org_id AND p.is_default)")
    opportunity = sa.table('opportunity', sa.column('competitor_ids', JSON))
    op.execute(opportunity.update().values(competitor_ids=[]))
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.alter_column('pipeline_id', existing_type=ID, nullable=False)
        batch_op.alter_column('competitor_ids', existing_type=JSON, nullable=False)
        batch_op.create_index(batch_op.f('ix_opportunity_pipeline_id'), ['pipeline_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_opportunity_pipeline_id_pipeline'), 'pipeline',
                                    ['pipeline_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_opportunity_lost_reason_id_lost_reason'), 'lost_reason',
                                    ['lost_reason_id'], ['id'])

    op.execute("UPDATE custom_field_definition SET type = 'bool' WHERE type = 'boolean'")
    op.execute("UPDATE custom_field_definition SET type = 'select' WHERE type = 'choice'")
    _forced(True)


def downgrade() -> None:
    _forced(False)
    op.execute("UPDATE custom_field_definition SET type = 'boolean' WHERE type = 'bool'")
    op.execute("UPDATE custom_field_definition SET type = 'choice' WHERE type = 'select'")
    # multiselect and user fields had no type before: they become text
    op.execute("UPDATE custom_field_definition SET type = 'text' WHERE type IN ('multiselect', 'user')")
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_opportunity_lost_reason_id_lost_reason'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_opportunity_pipeline_id_pipeline'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_opportunity_pipeline_id'))
        batch_op.drop_column('competitor_ids')
        batch_op.drop_column('lost_reason_id')
        batch_op.drop_column('pipeline_id')
    # only the default pipelines' stages fit the old per-org uniqueness
    op.execute("DELETE FROM pipeline_stage WHERE pipeline_id NOT IN (SELECT id FROM pipeline WHERE is_default)")
    with op.batch_alter_table('pipeline_stage', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_pipeline_stage_pipeline_id_pipeline'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_pipeline_stage_pipeline_id'))
        batch_op.drop_constraint(batch_op.f('uq_pipeline_stage_pipeline_id_key'), type_='unique')
        batch_op.create_unique_constraint('uq_pipeline_stage_org_id_key', ['org_id', 'key'])
        batch_op.drop_column('required_fields')
        batch_op.drop_column('pipeline_id')
    _forced(True)
    op.drop_table('competitor')
    op.drop_table('lost_reason')
    op.drop_table('pipeline')
