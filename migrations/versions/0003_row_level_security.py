"""row-level security: tenant isolation enforced by PostgreSQL too

The API works as role tandem_app (SET ROLE after connecting): it owns no table and has no
BYPASSRLS. Every tenant table has RLS enabled and forced, with a policy keeping rows to the org
named by the transaction's `tandem.org_id` setting; with no org set, nothing is visible.
SQLite (the embedded default) relies on the application's org filter alone.

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tandem_app"
TENANT_TABLES = (
    "app_user", "team", "pipeline_stage", "custom_field_definition", "customer", "contact", "interaction",
    "lead", "opportunity", "opportunity_stage_change", "outbox_event", "idempotency_key", "policy_version",
    "record_share",
)
CURRENT_ORG = "NULLIF(current_setting('tandem.org_id', true), '')::bigint"


def enable_tenant_rls(table: str, column: str = "org_id") -> None:
    """Later migrations call this for every new tenant table (a test checks they do)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({column} = {CURRENT_ORG}) "
               f"WITH CHECK ({column} = {CURRENT_ORG})")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$;
    """)
    # The connecting user must be able to SET ROLE to it (a superuser always can).
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
        END $$;
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP_ROLE}")
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    enable_tenant_rls("org", column="id")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in (*TENANT_TABLES, "org"):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
