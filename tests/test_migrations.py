from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from domain.models import Base


async def test_migrations_match_the_models(db):
    # given a database migrated to head (the `db` fixture ran `tandem migrate`)
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), Base.metadata)

    # when the models are compared with it
    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    # then nothing is missing: every model change comes with a migration
    assert changes == []
