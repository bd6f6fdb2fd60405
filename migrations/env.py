"""Alembic environment. Tandem runs it through tandem.migrate with a live connection."""

from alembic import context

import tandem.authz.store  # noqa: F401 - policy tables
from tandem.domain.knowledge.search import UNMAPPED_TABLES
from tandem.domain.models import Base

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, _parents: dict) -> bool:
    """Autogenerate leaves alone the tables raw SQL keeps (the knowledge base's search index)."""
    return not (type_ == "table" and name in UNMAPPED_TABLES)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `tandem migrate` (it passes the connection)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `tandem migrate`")
run_migrations_online()
