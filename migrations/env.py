"""Alembic environment. Tandem runs it through tandem.migrate with a live connection."""

from alembic import context

import tandem.authz.store  # noqa: F401 - policy tables
from tandem.domain.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `tandem migrate` (it passes the connection)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `tandem migrate`")
run_migrations_online()
