"""`tandem serve | migrate | seed-demo | token | export-schema`."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import sys
from pathlib import Path
from typing import Any

from .settings import DEV_JWT_SECRET, Settings, get_settings

SCHEMA_FILE = "schema.graphql"


def _database():
    from .db import Database, create_engine

    return Database(create_engine(get_settings()))


async def _migrate() -> None:
    from .migrate import upgrade

    db = _database()
    try:
        await upgrade(db.engine)
    finally:
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


async def _tokens(emails: list[str]) -> list[tuple[str, str, str]]:
    from tandem.domain.tenancy.user import user_by_email

    from .auth import mint_token

    settings = get_settings()
    db = _database()
    out = []
    try:
        async with db.read() as session:
            for email in emails:
                user = await user_by_email(session, email)
                if user is None:
                    raise SystemExit(f"no user with e-mail {email!r} in {settings.database_url}")
                out.append((user.email, ",".join(user.roles), mint_token(settings, user)))
    finally:
        await db.dispose()
    return out


def cmd_migrate(args: argparse.Namespace) -> None:
    asyncio.run(_migrate())
    print("migrations applied")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    asyncio.run(_migrate())
    if asyncio.run(_seed(only_if_empty=False)):
        print("demo data created")


def cmd_token(args: argparse.Namespace) -> None:
    [(email, roles, token)] = asyncio.run(_tokens([args.email]))
    print(f"# bearer token for {email} ({roles})", file=sys.stderr)
    print(token)


def cmd_export_schema(args: argparse.Namespace) -> None:
    from .graphql import build_schema

    sdl = build_schema(get_settings()).as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl, encoding="utf-8")
        print(f"wrote {args.output}")


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``tandem serve`` must not start with these settings, in one line (None: it may)."""
    if settings.jwt_algorithm == "HS256" and settings.jwt_secret == DEV_JWT_SECRET and not (
            settings.demo or settings.debug):
        return ("TANDEM_JWT_SECRET is the published development secret: set one of your own (for example "
                "`openssl rand -hex 32`), or try Tandem with `tandem serve --demo`.")
    if workers > 1 and not settings.redis_url:
        return (f"--workers {workers} needs TANDEM_REDIS_URL: with the in-memory broker a live event reaches "
                "only the subscribers of the worker that published it.")
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

    token = sub.add_parser("token", help="print a dev bearer token for a user (alone on the last line)")
    token.add_argument("--email", required=True)
    token.set_defaults(func=cmd_token)

    export = sub.add_parser("export-schema", help=f"write the SDL to {SCHEMA_FILE}")
    export.add_argument("--output", default=SCHEMA_FILE, help="file to write, or - for stdout")
    export.set_defaults(func=cmd_export_schema)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
