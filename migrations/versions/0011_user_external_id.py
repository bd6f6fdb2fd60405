"""users' external ids: the identity provider's id of a user, unique in an org

A token from an identity provider (TANDEM_JWT_JWKS_URL) names its user by the provider's own id (a
Keycloak UUID, Auth0's ``auth0|abc``, Entra's object id); an admin records it on the user
(``updateUser``/``inviteUser`` ``externalId``). Null for everyone until then; unique per org
(several nulls allowed on both backends).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_index("uq_app_user_org_id_external_id", "app_user", ["org_id", "external_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_app_user_org_id_external_id", table_name="app_user")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("external_id")
