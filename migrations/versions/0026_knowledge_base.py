"""Knowledge base articles and their search index

Articles (``knowledge_article``), every version of their text (``knowledge_article_version``) and one "this
helped" vote per user (``knowledge_vote``): tenant tables under row-level security like every other. The search
index is kept by domain/knowledge/search.py and named by no model: on PostgreSQL ``knowledge_search`` (a
``tsvector`` per article under a GIN index, also under row-level security), on SQLite an FTS5 table of the same
name. Orgs that predate it gain the default policy's knowledge base rows (authz/policy.csv).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 00:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.domain.shared.base

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = tandem.domain.shared.base.UtcDateTime(timezone=True)
TABLES = ("knowledge_article", "knowledge_article_version", "knowledge_vote")
CURRENT_ORG = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"
READERS = ("sales_rep", "sales_manager", "finance", "service", "marketing", "project_manager")
RULES = [
    *[(role, "KnowledgeArticle", "read:org") for role in READERS],
    *[(role, "KnowledgeArticle.*", "read") for role in READERS],
    ("service", "KnowledgeArticle", "create"),
    ("service", "KnowledgeArticle", "update"),
    ("service", "KnowledgeArticle.*", "write"),
    ("service", "KnowledgeDraft", "read:org"),
]


def upgrade() -> None:
    op.create_table(
        'knowledge_article',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('category', sa.String(length=100), nullable=True),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('source_ticket_id', ID, nullable=True),
        sa.Column('author_id', ID, nullable=False),
        sa.Column('helpful_count', sa.Integer(), nullable=False),
        sa.Column('not_helpful_count', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.Column('published_at', TIME, nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name=op.f('fk_knowledge_article_author_id_app_user')),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_knowledge_article_org_id_org'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_article')),
    )
    with op.batch_alter_table('knowledge_article', schema=None) as batch_op:
        batch_op.create_index('ix_knowledge_article_org_status', ['org_id', 'status', 'updated_at'], unique=False)

    op.create_table(
        'knowledge_article_version',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('article_id', ID, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('changed', sa.JSON(), nullable=False),
        sa.Column('edited_by_id', ID, nullable=False),
        sa.Column('edited_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['knowledge_article.id'],
                                name=op.f('fk_knowledge_article_version_article_id_knowledge_article'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['edited_by_id'], ['app_user.id'],
                                name=op.f('fk_knowledge_article_version_edited_by_id_app_user')),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_knowledge_article_version_org_id_org'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_article_version')),
        sa.UniqueConstraint('article_id', 'version', name=op.f('uq_knowledge_article_version_article_id_version')),
    )
    with op.batch_alter_table('knowledge_article_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_article_version_org_id'), ['org_id'], unique=False)

    op.create_table(
        'knowledge_vote',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('org_id', ID, nullable=False),
        sa.Column('article_id', ID, nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('helpful', sa.Boolean(), nullable=False),
        sa.Column('voted_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['knowledge_article.id'],
                                name=op.f('fk_knowledge_vote_article_id_knowledge_article'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_knowledge_vote_org_id_org'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_knowledge_vote_user_id_app_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_vote')),
        sa.UniqueConstraint('article_id', 'user_id', name=op.f('uq_knowledge_vote_article_id_user_id')),
    )
    with op.batch_alter_table('knowledge_vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_vote_org_id'), ['org_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE knowledge_search (article_id bigint PRIMARY KEY REFERENCES knowledge_article(id) "
                   "ON DELETE CASCADE, org_id bigint NOT NULL, document tsvector NOT NULL)")
        op.execute("CREATE INDEX ix_knowledge_search_document ON knowledge_search USING gin (document)")
        for table in (*TABLES, "knowledge_search"):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {CURRENT_ORG}) "
                       f"WITH CHECK (org_id = {CURRENT_ORG})")
    else:
        op.execute("CREATE VIRTUAL TABLE knowledge_search USING fts5(org_id UNINDEXED, title, tags, body, "
                   "tokenize = 'unicode61')")
    _grant_default_rules()


def _grant_default_rules() -> None:
    """The default policy's knowledge base rows, for every org that has a policy already."""
    bind = op.get_bind()
    orgs = [row[0] for row in bind.execute(sa.text("SELECT DISTINCT v1 FROM casbin_rule WHERE ptype = 'p'"))]
    for org in orgs:
        added = False
        for role, obj, act in RULES:
            rule = {"role": role, "org": org, "obj": obj, "act": act}
            if bind.execute(sa.text("SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = :org "
                                    "AND v2 = :obj AND v3 = :act"), rule).first():
                continue
            bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                                 "VALUES ('p', :role, :org, :obj, :act, 'allow')"), rule)
            added = True
        if added:  # a new version tells every process to reload the org's policy
            bind.execute(sa.text("UPDATE policy_version SET version = version + 1 "
                                 "WHERE CAST(org_id AS VARCHAR(40)) = :org"), {"org": org})


def downgrade() -> None:
    bind = op.get_bind()
    for role, obj, act in RULES:
        bind.execute(sa.text("DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v2 = :obj "
                             "AND v3 = :act AND v4 = 'allow'"), {"role": role, "obj": obj, "act": act})
    op.execute("DROP TABLE knowledge_search")
    op.drop_table('knowledge_vote')
    op.drop_table('knowledge_article_version')
    op.drop_table('knowledge_article')
