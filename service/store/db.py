"""The database: one engine per process, SQLite (WAL) by default, PostgreSQL by URL.

SQLite: WAL lets readers run beside the one writer; every write transaction starts with
`BEGIN IMMEDIATE`, so it takes the write lock up front instead of failing at its first
write when another writer got there first. Writers of this process also queue on a
lock of ours first: SQLite's own busy handler sleeps and polls with growing pauses, which
under 50 agents turned a 5 ms write into hundreds of ms of waiting. Other processes (the
CLI) still meet the busy timeout. `synchronous=FULL` (the default) makes a commit durable
before it is acknowledged, power loss included; NORMAL survives a killed process, not a
power cut, for about a fifth of the cost. PostgreSQL: READ COMMITTED, and the store's
conditional updates decide races.

Driver and SQLAlchemy errors are translated here, and only here, into StoreUnavailable
(a 503 over HTTP): a database that is down answers quickly, it never hangs a request.
"""

from __future__ import annotations

from collections.abc import Iterator
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import StoreUnavailable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_MS = 10_000


def make_engine(url: str, connect_timeout: float = 5.0, sqlite_synchronous: str = "FULL") -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create the database folder {folder}: {exc.strerror}") from exc
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
                               pool_size=20, max_overflow=40)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _: Any) -> None:
            # Let SQLAlchemy's begin event, not the driver, open transactions.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, int(connect_timeout))
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=40,
                         pool_timeout=connect_timeout, connect_args=connect_args)


def describe(url: str) -> str:
    """The URL without its password, for logs and /healthz."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    def __init__(self, url: str, connect_timeout: float = 5.0, sqlite_synchronous: str = "FULL") -> None:
        if sqlite_synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"sqlite_synchronous: FULL or NORMAL, got {sqlite_synchronous!r}")
        self.url = url
        self.location = describe(url)
        self.engine = make_engine(url, connect_timeout, sqlite_synchronous)
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(write=True), expire_on_commit=False)
        self._writer = threading.Lock() if self.dialect == "sqlite" else nullcontext()

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises.
        IntegrityError passes through (callers decide what a duplicate means)."""
        with translate():
            if not write:
                with self._read() as session, session.begin():
                    yield session
                return
            with self._writer, self._write() as session, session.begin():
                yield session

    def migrate(self) -> str:
        """Upgrade the schema to the newest migration; returns the revision."""
        from alembic import command

        with translate():
            with self.engine.begin() as conn:
                cfg = alembic_config(conn)
                command.upgrade(cfg, "head")
            return self.revision() or ""

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with translate(), self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ready(self) -> bool:
        """The schema exists (migrations have run)."""
        with translate(), self.engine.connect() as conn:
            return inspect(conn).has_table("drafts")

    def ping(self) -> None:
        with translate(), self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def translate() -> Iterator[None]:
    try:
        yield
    except IntegrityError:
        raise
    except DBAPIError as exc:
        raise StoreUnavailable(f"the database failed: {_short(exc)}") from exc
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"the database failed: {_short(exc)}") from exc


def _short(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
