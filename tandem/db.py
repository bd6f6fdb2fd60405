"""Engine, sessions and the dialect-specific connection setup."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from tandem.domain.shared.dialect import FOLD
from tandem.domain.shared.later import Writer, take_later, taken
from tandem.domain.shared.outbox import RECORDED, settle

from .settings import Settings

log = logging.getLogger("tandem.db")


def _casefold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


APP_ROLE = "tandem_app"
"""On PostgreSQL the API works as this role: it owns no table and has no BYPASSRLS, so row-level
security holds even if a query forgets its org filter (migrations create it and its grants)."""
ORG_SETTING = "tandem.org_id"


@event.listens_for(Session, "after_begin")
def _set_tenant(session: Session, _transaction: Any, connection: Any) -> None:
    """Every transaction of a session bound to an org tells PostgreSQL which org it is for."""
    org_id = session.info.get("org_id")
    if org_id is not None and connection.dialect.name == "postgresql":
        # a utility command, not a query to plan: half the database's work of ``SELECT set_config(..., true)``
        connection.exec_driver_sql(f"SET LOCAL {ORG_SETTING} = '{int(org_id)}'")


outbox_listeners: list[Callable[[], None]] = []
"""Called after any transaction in this process that wrote outbox rows commits (wakes the relay)."""


@event.listens_for(Session, "before_commit")
def _notify_relays(session: Session) -> None:
    """Other processes' relays hear about the new outbox rows when this transaction commits."""
    if session.info.get("outbox") and session.get_bind().dialect.name == "postgresql":
        session.connection().execute(text("SELECT pg_notify('tandem_outbox', '')"))


@event.listens_for(Session, "after_commit")
def _wake_relay(session: Session) -> None:
    if session.info.pop("outbox", None):
        for listener in outbox_listeners:
            listener()


@event.listens_for(Session, "after_rollback")
def _forget_outbox(session: Session) -> None:
    session.info.pop("outbox", None)
    session.info.pop(RECORDED, None)


def create_engine(settings: Settings, *, url: str | None = None, app_role: bool = False) -> AsyncEngine:
    """``app_role``: on PostgreSQL, work as the unprivileged APP_ROLE (the API); otherwise as the
    connecting user (migrations, CLI, jobs that span orgs)."""
    url = url or settings.database_url
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            dbapi_connection.create_function(FOLD, 1, _casefold, deterministic=True)

        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        connect_args={"server_settings": {"statement_timeout": str(settings.statement_timeout_ms),
                                          "application_name": "tandem"}},
    )
    _ping_when_idle(engine)
    _forget_kept_org(engine)
    if app_role:

        @event.listens_for(engine.sync_engine, "connect")
        def _as_app_role(dbapi_connection: Any, _record: Any) -> None:
            # Outside any transaction: a SET ROLE inside one would be undone by the pool's reset.
            dbapi_connection.run_async(lambda conn: conn.execute(f"SET ROLE {APP_ROLE}"))

    return engine


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle longer than this is pinged before it is handed out."""


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a connection that sat in the pool before handing it out, in one round trip (an empty simple
    query), and only when it sat there a while: a busy pool then pays no ping at all, where SQLAlchemy's
    ``pool_pre_ping`` pays three round trips (BEGIN, the ping, ROLLBACK) on every checkout. A connection
    that fails the ping is discarded and the pool hands out another (``DisconnectionError``); one that dies
    while in use fails its statement, and SQLAlchemy then invalidates the rest of the pool."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.run_async(lambda conn: conn.execute(";"))
        except Exception as exc:
            raise DisconnectionError(f"the pooled connection failed its ping: {exc!r}") from exc


KEPT_ORG = "tandem.kept_org"
"""Key of a pooled connection's info: the org its session is set to (``Database.fetch_one``)."""
_READING_KEPT_ORG: ContextVar[bool] = ContextVar("tandem_reading_kept_org", default=False)


def _forget_kept_org(engine: AsyncEngine) -> None:
    """A connection whose session ``fetch_one`` set to an org is set back (``RESET``) before it is handed to
    anything else: a session that names no org must see no rows, and one that does sets its own for each
    transaction (``_set_tenant``, which outranks the session's value anyway)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _forget(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(KEPT_ORG) is None or _READING_KEPT_ORG.get():
            return
        try:
            dbapi_connection.run_async(lambda conn: conn.execute(f"RESET {ORG_SETTING}"))
        except Exception as exc:
            raise DisconnectionError(f"the pooled connection could not be reset: {exc!r}") from exc
        del record.info[KEPT_ORG]


class Database:
    """Sessions for one process. SQLite allows one writer, so write units of work take a lock."""

    LATER_SECONDS = 0.5
    """How long rows left for after the commit (``domain/shared/later.py``) wait, gathering, before written."""
    LATER_MAX_ROWS = 100_000
    """Beyond this many such rows waiting (the database refusing them), the oldest are dropped, logged."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._later: dict[Writer, list[dict[str, Any]]] = {}
        self._later_lock = asyncio.Lock()
        self._later_task: asyncio.Task[None] | None = None

    def session(self, org_id: int | None = None) -> AsyncSession:
        """A session; bound to ``org_id``, each of its transactions is scoped to that org (PostgreSQL RLS)."""
        return self.sessions(info={"org_id": org_id} if org_id is not None else {})

    @asynccontextmanager
    async def write(self, org_id: int | None = None) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally (after the reactions to what it recorded,
        ``outbox.settle``), rolled back otherwise."""
        if self._write_lock is None:
            async with self.session(org_id) as session:
                take_later(session)
                async with session.begin():
                    yield session
                    await settle(session)
        else:
            async with self._write_lock, self.session(org_id) as session:
                take_later(session)
                async with session.begin():
                    yield session
                    await settle(session)
        self._defer(taken(session))

    def _defer(self, later: dict[Writer, list[dict[str, Any]]]) -> None:
        if not later:
            return
        for writer, rows in later.items():
            self._later.setdefault(writer, []).extend(rows)
        if self._later_task is None or self._later_task.done():
            self._later_task = asyncio.get_running_loop().create_task(self._write_later_soon())

    async def _write_later_soon(self) -> None:
        await asyncio.sleep(self.LATER_SECONDS)
        try:
            await self.flush_later()
        except Exception:
            log.warning("rows left for after the commit were not written; trying again", exc_info=True)
            waiting = sum(len(rows) for rows in self._later.values())
            if waiting > self.LATER_MAX_ROWS:
                log.error("dropping %s rows left for after the commit", waiting)
                self._later.clear()
            elif self._later:
                self._later_task = asyncio.get_running_loop().create_task(self._write_later_soon())

    async def flush_later(self) -> None:
        """Write every row left for after a commit now (each writer's rows in one transaction per org). A reader
        of such rows calls it first: in this process it then sees all of them."""
        async with self._later_lock:
            while self._later:
                writer = next(iter(self._later))
                by_org: dict[int, list[dict[str, Any]]] = {}
                for row in self._later.pop(writer):
                    by_org.setdefault(row["org_id"], []).append(row)
                try:
                    for org_id in list(by_org):
                        async with self.write(org_id) as session:
                            await writer(session, by_org[org_id])
                        del by_org[org_id]
                except BaseException:
                    unwritten = [row for rows in by_org.values() for row in rows]
                    self._later.setdefault(writer, [])[:0] = unwritten  # first again, before newer rows
                    raise

    @asynccontextmanager
    async def read(self, org_id: int | None = None) -> AsyncIterator[AsyncSession]:
        """A session for reads; closing it ends its transaction and leaves loaded objects usable."""
        async with self.session(org_id) as session:
            yield session

    async def fetch_one(self, org_id: int, statement: str, parameters: Any) -> Any:
        """A statement already compiled for the driver (SQL and parameters), run on its own scoped to the org:
        its first row, or None. The cheapest way to the database, one round trip: no session, the driver's
        prepared statement, no transaction of its own (one statement reads one snapshot), and on PostgreSQL
        the org set on the connection for its session (``SET``), kept there for the next such read of the
        same org, and taken off again before the connection serves anything else (``_forget_kept_org``)."""
        reading = _READING_KEPT_ORG.set(True)
        try:
            connection = await self.engine.connect().start()
        finally:
            _READING_KEPT_ORG.reset(reading)
        try:
            if self.dialect != "postgresql":
                return (await connection.exec_driver_sql(statement, parameters)).first()
            raw = (await connection.get_raw_connection()).driver_connection
            org = str(int(org_id))  # an int from a verified token, written into the command
            if connection.info.get(KEPT_ORG) != org:
                connection.info.pop(KEPT_ORG, None)
                try:
                    await raw.execute(f"SET {ORG_SETTING} = '{org}'")
                except BaseException:
                    await connection.invalidate()  # the pool must not hand out a connection in doubt
                    raise
                connection.info[KEPT_ORG] = org
            return await raw.fetchrow(statement, *parameters)
        finally:
            await connection.close()

    async def dispose(self) -> None:
        if self._later_task is not None and not self._later_task.done():
            self._later_task.cancel()
        try:
            await self.flush_later()
        except Exception:
            log.warning("rows left for after the commit were lost at shutdown", exc_info=True)
        await self.engine.dispose()
