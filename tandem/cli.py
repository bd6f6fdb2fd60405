"""`tandem serve | migrate | seed-demo | create-org | token | run-scheduler | export-schema`."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from .settings import DEV_JWT_SECRET, Settings, get_settings

SCHEMA_FILE = "schema.graphql"


def _database():
    from .db import Database, create_engine

    return Database(create_engine(get_settings()))


class _MigrationProgress(logging.Handler):
    """Alembic's "Running upgrade a -> b, message" lines as the operator's progress: on a terminal one line
    rewritten in place (``[3/24] message``), otherwise a line per migration."""

    def __init__(self, stream: Any) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.done = 0
        self.tty = stream.isatty()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith("Running upgrade"):
            return
        self.done += 1
        step = message.split(",", 1)[-1].strip() if "," in message else message
        line = f"tandem: migrating [{self.done}] {step}"
        self._write("\r\033[K" + line[: shutil.get_terminal_size().columns - 1] if self.tty else line + "\n")

    def finish(self) -> None:
        if self.tty and self.done:
            self._write("\n")

    def _write(self, text: str) -> None:
        try:  # progress is a courtesy: a closed or broken stderr must not stop a migration halfway
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


async def _migrate(progress: bool = False) -> None:
    from .migrate import upgrade

    db = _database()
    shown = _MigrationProgress(sys.stderr) if progress else None
    migration_log = logging.getLogger("alembic.runtime.migration")
    if shown is not None:
        migration_log.addHandler(shown)
        migration_log.setLevel(logging.INFO)
    try:
        await upgrade(db.engine)
    finally:
        if shown is not None:
            migration_log.removeHandler(shown)
            shown.finish()
        await db.dispose()


async def _seed(only_if_empty: bool) -> bool:
    from .demo import is_seeded, seed_demo

    db = _database()
    try:
        async with db.write() as session:
            if await is_seeded(session):
                if not only_if_empty:
                    print("The database already holds data; demo data is only added to an empty database.")
                return False
            await seed_demo(session)
        return True
    finally:
        await db.dispose()


def _existing_database(settings: Settings) -> None:
    """A command that only reads must not create an empty SQLite file where there was none."""
    from sqlalchemy import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database).expanduser().resolve()
        if not path.exists():
            raise SystemExit(f"tandem: there is no database at {path}: run `tandem migrate` (or `tandem seed-demo`) "
                             "here first, or point TANDEM_DATABASE_URL at yours.")


async def _tokens(emails: list[str]) -> list[tuple[str, str, str]]:
    from tandem.domain.tenancy.user import user_by_email

    from .auth import mint_token

    settings = get_settings()
    _existing_database(settings)
    db = _database()
    out = []
    try:
        async with db.read() as session:
            for email in emails:
                user = await user_by_email(session, email)
                if user is None:
                    raise SystemExit(f"tandem: no user with e-mail {email!r} in {_shown(settings.database_url)}.")
                out.append((user.email, ",".join(user.roles), mint_token(settings, user)))
    finally:
        await db.dispose()
    return out


async def _create_org(name: str, email: str, admin_name: str, currency: str) -> tuple[int, str, str]:
    from tandem.domain.tenancy.org import create_org
    from tandem.domain.tenancy.user import create_user, user_by_email

    from .auth import mint_token

    settings = get_settings()
    db = _database()
    try:
        async with db.write() as session:
            taken = await user_by_email(session, email)
            if taken is not None:
                raise SystemExit(f"tandem: a user with e-mail {email!r} already exists (org {taken.org_id}); "
                                 "an org's first admin needs an address of their own.")
            org = await create_org(session, name, currency)
            admin = await create_user(session, org.id, email=email, name=admin_name, roles=["admin"])
        return org.id, admin.email, mint_token(settings, admin)
    finally:
        await db.dispose()


def _checked_org_arguments(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """The org's name, the admin's e-mail and name, the currency: trimmed and checked, or one line why not."""
    from tandem.domain.shared.money import is_currency

    name, email = args.name.strip(), args.admin_email.strip().lower()
    admin_name = (args.admin_name or email.split("@")[0]).strip()
    currency = args.currency.strip().upper()
    problems = []
    if not name or len(name) > 200 or not name.isprintable():
        problems.append("--name must be 1 to 200 printable characters")
    local, at, domain = email.partition("@")
    if not (local and at and "." in domain) or len(email) > 254 or not email.isprintable() or " " in email:
        problems.append("--admin-email must be an e-mail address")
    if not admin_name or len(admin_name) > 200 or not admin_name.isprintable():
        problems.append("--admin-name must be 1 to 200 printable characters")
    if not is_currency(currency):
        problems.append("--currency must be an ISO 4217 code such as CNY, USD or EUR")
    if problems:
        raise SystemExit("tandem: " + "; ".join(problems) + ".")
    return name, email, admin_name, currency


def cmd_create_org(args: argparse.Namespace) -> None:
    name, email, admin_name, currency = _checked_org_arguments(args)
    asyncio.run(_migrate(progress=True))
    org_id, email, token = asyncio.run(_create_org(name, email, admin_name, currency))
    print(f"# org {name!r} (id {org_id}) created; bearer token for its admin {email}:", file=sys.stderr)
    print(token)


def cmd_migrate(args: argparse.Namespace) -> None:
    asyncio.run(_migrate(progress=True))
    print("migrations applied")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    asyncio.run(_migrate(progress=True))
    if asyncio.run(_seed(only_if_empty=False)):
        print("demo data created")


def cmd_token(args: argparse.Namespace) -> None:
    [(email, roles, token)] = asyncio.run(_tokens([args.email]))
    print(f"# bearer token for {email} ({roles})", file=sys.stderr)
    print(token)


async def _scheduler_pass(now: Any) -> int:
    import tandem.domain.registry  # noqa: F401  (the rules read the record types it hands down)
    from tandem.domain.shared.clock import clock

    from .scheduler import Scheduler

    settings = get_settings()
    _existing_database(settings)
    db = _database()
    clock.set(now)
    try:
        return await Scheduler(db.engine).tick()
    finally:
        clock.set(None)
        await db.dispose()


def _moment(text: str | None) -> Any:
    """``--now``: an ISO 8601 time with its offset (2027-01-15T09:00:00+08:00), or None for the present."""
    from datetime import datetime

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SystemExit("tandem: --now must be an ISO 8601 time with its offset, e.g. 2027-01-15T09:00:00+08:00.")
    return moment


def cmd_run_scheduler(args: argparse.Namespace) -> None:
    now = _moment(args.now)
    escalations = asyncio.run(_scheduler_pass(now))
    shown = now.isoformat() if now is not None else "now"
    print(f"scheduler pass as of {shown} done: reminders, workflow rules and SLAs due by then ran "
          f"({escalations} escalations); see each user's notifications")


def cmd_export_schema(args: argparse.Namespace) -> None:
    from .graphql import build_schema

    sdl = build_schema(get_settings()).as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl, encoding="utf-8")
        print(f"wrote {args.output}")


async def _ping_redis(url: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=5)
    try:
        await client.ping()
    finally:
        await client.aclose()


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``tandem serve`` must not start with these settings, in one line (None: it may)."""
    if settings.jwt_algorithm == "HS256" and settings.jwt_secret == DEV_JWT_SECRET and not (
            settings.demo or settings.debug):
        return ("TANDEM_JWT_SECRET is the published development secret: set one of your own (for example "
                "`openssl rand -hex 32`), or try Tandem with `tandem serve --demo`.")
    if workers > 1 and not settings.redis_url:
        return (f"--workers {workers} needs TANDEM_REDIS_URL: with the in-memory broker a live event reaches "
                "only the subscribers of the worker that published it.")
    if settings.trusted_documents.strip().lower() not in ("", "off", "on"):
        from .persisted import ManifestError, load_manifest

        try:
            load_manifest(settings.trusted_documents.strip())
        except ManifestError as exc:
            return str(exc)
    return None


def _hold_embedded_broker(settings: Settings) -> Any:
    """Without Redis, one process serves a SQLite file: a second would publish live events its peer's
    subscribers never get. The lock (a file next to the database, released when the process ends) is
    how the second learns of the first; None when there is nothing to hold (Redis, or not SQLite)."""
    from sqlalchemy import make_url

    url = make_url(settings.database_url)
    if settings.redis_url or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    held = (path.parent / (path.name + ".serve.lock")).open("a")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        held.close()
        raise SystemExit(f"tandem: another `tandem serve` already serves {path} without TANDEM_REDIS_URL; "
                         "its subscribers would miss this process's live events. Stop it, or set "
                         "TANDEM_REDIS_URL for both.") from None
    return held


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .demo import ACME_USERS, DEMO_USERS
    from .middleware import configure_logging

    if args.demo:  # the app, built by uvicorn (in each worker), reads it as TANDEM_DEMO
        os.environ["TANDEM_DEMO"] = "true"
        get_settings.cache_clear()
    settings = get_settings()
    refused = refusal(settings, args.workers)
    if refused is not None:
        raise SystemExit(f"tandem: {refused}")
    lock = _hold_embedded_broker(settings)  # noqa: F841 - held while this process serves
    if settings.redis_url:
        asyncio.run(_ping_redis(settings.redis_url))
    configure_logging(settings.log_level)
    asyncio.run(_migrate())
    host = args.host or settings.host
    port = args.port or settings.port
    if args.demo:
        asyncio.run(_seed(only_if_empty=True))
        tokens = asyncio.run(_tokens([u[0] for u in DEMO_USERS + ACME_USERS]))
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        print(f"\nTandem is starting: GraphiQL at http://{shown}:{port}/graphql")
        print('Paste a token into GraphiQL headers as {"Authorization": "Bearer <token>"}\n')
        for email, roles, token in tokens:
            print(f"{email:<22} {roles:<16} {token}")
        print(flush=True)
    uvicorn.run("tandem.app:create_app", factory=True, host=host, port=port, workers=args.workers,
                log_config=None, access_log=False, timeout_graceful_shutdown=30, proxy_headers=True)


def _shown(url: str) -> str:
    """A database or Redis URL without its password."""
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads (Redis's are): drop anything before an @
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, what it wraps (a driver's error in SQLAlchemy's) and what it was raised from."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        found = todo.pop()
        if found is None or any(found is s for s in seen):
            continue
        seen.append(found)
        todo += [getattr(found, "orig", None), found.__cause__, found.__context__]
    return seen


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line for a failure the operator can fix (what happened, what to do), or None: a bug, whose
    traceback is worth reading."""
    from sqlalchemy import make_url

    database = _shown(settings.database_url)
    url = make_url(settings.database_url)
    for cause in _causes(exc):
        name, message = type(cause).__name__, str(cause)
        if name == "InvalidCatalogNameError" or ("database" in message and "does not exist" in message):
            user = f" -U {url.username}" if url.username else ""
            return (f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432} has no database "
                    f"{url.database!r}: create it (`createdb -h {url.host or 'localhost'} -p {url.port or 5432}"
                    f"{user} {url.database}`), then run `tandem migrate`.")
        if name in ("UndefinedTableError", "OperationalError") and (
                "no such table" in message or "does not exist" in message and "relation" in message):
            return f"the database {database} is not migrated: run `tandem migrate` first."
        if "redis" in type(cause).__module__ and name in ("ConnectionError", "TimeoutError"):
            return f"cannot reach Redis at {_shown(settings.redis_url or '')}: {message.rstrip('.')}."
        if isinstance(cause, ConnectionRefusedError | TimeoutError) or name in (
                "gaierror", "CannotConnectNowError", "InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return f"cannot reach the database {database}: {message.rstrip('.')}. Is it running, and is the URL right?"
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tandem", description="Tandem: GraphQL for project sales, lead to cash.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and serve the API (GraphiQL at /graphql)")
    serve.add_argument("--host", default=None, help="bind address (default TANDEM_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default TANDEM_PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.add_argument("--demo", action="store_true", help="on an empty database, add demo data; print tokens")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("seed-demo", help="migrate, then add demo data to an empty database").set_defaults(
        func=cmd_seed_demo)

    org = sub.add_parser("create-org", help="create an org and its first admin; print the admin's token "
                                           "(alone on the last line)")
    org.add_argument("--name", required=True, help="the org's name")
    org.add_argument("--admin-email", required=True, help="the first admin's e-mail (their login)")
    org.add_argument("--admin-name", default=None, help="the admin's name (default: the e-mail's local part)")
    org.add_argument("--currency", default="CNY", help="the org's default currency (ISO 4217, default CNY)")
    org.set_defaults(func=cmd_create_org)

    token = sub.add_parser("token", help="print a dev bearer token for a user (alone on the last line)")
    token.add_argument("--email", required=True)
    token.set_defaults(func=cmd_token)

    scheduler = sub.add_parser("run-scheduler", help="run one pass of the periodic jobs (reminders, workflow "
                                                     "rules, SLAs) and exit; the server runs them by itself")
    scheduler.add_argument("--now", default=None, help="run the pass as of this time (ISO 8601 with offset, e.g. "
                                                       "2027-01-15T09:00:00+08:00): see a reminder fire by hand")
    scheduler.set_defaults(func=cmd_run_scheduler)

    export = sub.add_parser("export-schema", help=f"write the SDL to {SCHEMA_FILE}")
    export.add_argument("--output", default=SCHEMA_FILE, help="file to write, or - for stdout")
    export.set_defaults(func=cmd_export_schema)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        line = explain(exc, get_settings())
        if line is None:
            raise
        raise SystemExit(f"tandem: {line}") from None


if __name__ == "__main__":
    main()
