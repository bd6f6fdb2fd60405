"""The CLI's common failures are one line saying what happened and what to do, with a non-zero exit, not a
traceback; a command that only reads never creates a database file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories.servers import free_port

OWN_SECRET = "a-secret-of-this-deployment-0123456789abcdef"


def _tandem(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    return subprocess.run([sys.executable, "-m", "tandem.cli", *args], cwd=tmp_path, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done
    line = done.stderr.strip()
    assert line.startswith("tandem: ") and "\n" not in line and "Traceback" not in line, done.stderr
    return line


def test_a_token_asked_in_a_folder_without_a_database_creates_none(tmp_path):
    # when an operator asks for a token where there is no database
    done = _tandem(tmp_path, "token", "--email", "admin@demo.test")
    # then one line says to migrate first, and no empty tandem.db is left behind
    assert "tandem migrate" in _one_line(done)
    assert not (tmp_path / "tandem.db").exists()


def test_a_database_not_migrated_is_named_with_the_way_out(tmp_path):
    (tmp_path / "tandem.db").touch()
    done = _tandem(tmp_path, "token", "--email", "admin@demo.test")
    assert "not migrated: run `tandem migrate`" in _one_line(done)


def test_an_unknown_user_is_one_line(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
    assert _tandem(tmp_path, "migrate", TANDEM_DATABASE_URL=url).returncode == 0
    done = _tandem(tmp_path, "token", "--email", "nobody@demo.test", TANDEM_DATABASE_URL=url)
    assert "no user with e-mail 'nobody@demo.test'" in _one_line(done)


def test_a_database_server_that_does_not_answer_is_one_line_without_the_password(tmp_path):
    url = f"postgresql+asyncpg://tandem:s3cret@127.0.0.1:{free_port()}/tandem"
    line = _one_line(_tandem(tmp_path, "migrate", TANDEM_DATABASE_URL=url))
    assert "cannot reach the database" in line and "s3cret" not in line


@pytest.mark.skipif(not os.environ.get("TANDEM_TEST_DATABASE_URL"), reason="needs the test PostgreSQL")
def test_a_missing_postgresql_database_gets_the_createdb_hint(tmp_path):
    from sqlalchemy import make_url

    url = make_url(os.environ["TANDEM_TEST_DATABASE_URL"]).set(database="tandem_no_such_database")
    done = _tandem(tmp_path, "migrate", TANDEM_DATABASE_URL=url.render_as_string(hide_password=False))
    line = _one_line(done)
    assert "has no database 'tandem_no_such_database'" in line and "createdb" in line


def test_serve_with_redis_unreachable_is_one_line_before_touching_the_database(tmp_path):
    done = _tandem(tmp_path, "serve", "--port", str(free_port()), TANDEM_JWT_SECRET=OWN_SECRET,
                   TANDEM_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert "cannot reach Redis at redis://127.0.0.1:" in _one_line(done)
    assert not (tmp_path / "tandem.db").exists()


def test_create_org_gives_a_working_admin_token_and_refuses_a_taken_address(tmp_path):
    import asyncio

    import httpx

    from tandem.app import create_app
    from tandem.settings import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
    env = {"TANDEM_DATABASE_URL": url, "TANDEM_JWT_SECRET": OWN_SECRET}
    # when an operator creates the first org (migrating an empty database on the way)
    done = _tandem(tmp_path, "create-org", "--name", "华东项目部", "--admin-email", "Boss@Example.com", **env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]

    # then the token is the admin's, in the new org, and the API answers them
    async def ask() -> dict:
        app = create_app(Settings(database_url=url, jwt_secret=OWN_SECRET))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://tandem") as client:
            response = await client.post("/graphql", headers={"authorization": f"Bearer {token}"}, json={
                "query": "{ me { email name roles } customers(first: 1) { totalCount } }"})
            return response.json()

    assert asyncio.run(ask())["data"] == {"me": {"email": "boss@example.com", "name": "boss", "roles": ["admin"]},
                                          "customers": {"totalCount": 0}}
    # and the same address cannot found a second org; bad arguments are named together, nothing written
    assert "already exists" in _one_line(_tandem(tmp_path, "create-org", "--name", "二部", "--admin-email",
                                                 "boss@example.com", **env))
    line = _one_line(_tandem(tmp_path, "create-org", "--name", " ", "--admin-email", "nope", "--currency", "XYZ",
                             **env))
    assert "--name" in line and "--admin-email" in line and "--currency" in line


def test_migrate_shows_each_migration_as_it_goes_and_nothing_when_up_to_date(tmp_path):
    from alembic.script import ScriptDirectory

    from tandem.migrate import alembic_config

    url = f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
    revisions = len(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
    # when an operator migrates a new database (stderr is not a terminal here: a line per migration)
    first = _tandem(tmp_path, "migrate", TANDEM_DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.strip().splitlines()
    # then each migration is one line, numbered in order, and the command says it is done
    assert [line.split("]")[0] for line in lines] == [f"tandem: migrating [{n}" for n in range(1, revisions + 1)]
    assert first.stdout.strip() == "migrations applied"
    # and again, with nothing left to apply, only that
    again = _tandem(tmp_path, "migrate", TANDEM_DATABASE_URL=url)
    assert again.returncode == 0 and again.stderr.strip() == "" and again.stdout.strip() == "migrations applied"
