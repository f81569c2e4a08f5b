"""Engines for the catalog: SQLite (embedded default) or PostgreSQL, with write serialisation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..errors import ConfigError, StoreError

# Advisory-lock key that serialises appends to the log across processes on PostgreSQL.
_PG_APPEND_LOCK = 0x637573746F6479  # "custody"
SQLITE_BUSY_TIMEOUT_MS = 120_000


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself, so writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def catalog_full(exc: DBAPIError) -> bool:
    """The database refused a write because its disk or quota is full (SQLite SQLITE_FULL, PostgreSQL 53100)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "53100":  # PostgreSQL disk_full
        return True
    if getattr(orig, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
        return True
    return "database or disk is full" in str(orig)


class Database:
    """A reader engine and a writer engine whose transactions serialise log appends."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.kind = "sqlite"
                self.reader = _sqlite_engine(url, "BEGIN")
                self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE")
            elif url.startswith("postgresql"):
                self.kind = "postgresql"
                self.reader = create_engine(url, pool_pre_ping=True)
                self.writer = self.reader
            else:
                raise ConfigError(f"unsupported database URL '{url}'; use sqlite:/// or postgresql+psycopg://")
        except ImportError as exc:
            raise ConfigError(f"database driver missing for '{url}': {exc}") from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session."""
        with Session(self.reader, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only session whose every statement sees one snapshot of the catalog.

        PostgreSQL: a REPEATABLE READ, READ ONLY transaction (its snapshot is taken at the first
        statement). SQLite in WAL mode: one read transaction, whose snapshot is likewise fixed at
        its first read and kept until it ends, whatever writers commit meanwhile.
        """
        bind = self.reader
        if self.kind == "postgresql":
            bind = self.reader.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction holding the archive-wide append lock until commit.

        A catalog whose disk (or quota) is full is a one-line StoreError; the transaction is rolled back.
        """
        try:
            with Session(self.writer, expire_on_commit=False) as session, session.begin():
                if self.kind == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_APPEND_LOCK})
                yield session
        except DBAPIError as exc:
            if not catalog_full(exc):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "full"
            raise StoreError(
                f"the catalog {self.safe_url()} is full ({reason}); nothing of this command was recorded: "
                "free space for the database and run it again"
            ) from None

    def server_version(self) -> str:
        """The database server's version string."""
        with self.reader.connect() as conn:
            if self.kind == "postgresql":
                return str(conn.execute(text("SHOW server_version")).scalar_one())
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())

    def check_reachable(self) -> None:
        """Fail with a clear message when the database cannot be reached."""
        try:
            with self.reader.connect() as conn:
                conn.execute(text("select 1"))
        except DBAPIError as exc:
            # Unreachable server, or a file that is not (or no longer) a database.
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(
                f"cannot open the database {self.safe_url()}: {reason}; check the database URL or file"
            ) from None

    def safe_url(self) -> str:
        """The URL without any password, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.reader.dispose()
        self.writer.dispose()
