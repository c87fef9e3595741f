"""One SQLAlchemy engine, with transactions that the catalog and the queue share."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex

from darkroom.adapters.sql.schema import metadata

_current: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
    "darkroom_connection", default=None
)


class Database:
    """Short transactions on one database. On SQLite: WAL, so readers never wait for the writer,
    and BEGIN IMMEDIATE, so two writers queue up instead of deadlocking on a lock upgrade."""

    def __init__(self, url: str) -> None:
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not psycopg2
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": 60, "check_same_thread": False}
        else:
            options["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        metadata.create_all(self.engine)
        # create_all makes a table's indexes only with the table: an index added in a later
        # release must also reach databases made before it.
        # IF NOT EXISTS: workers starting together may both get here.
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))

    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """A transaction; nested calls join the outer one."""
        outer = _current.get()
        if outer is not None:
            yield outer
            return
        with self.engine.begin() as conn:
            token = _current.set(conn)
            try:
                yield conn
            finally:
                _current.reset(token)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads: inside a transaction, that one; else a fresh snapshot."""
        outer = _current.get()
        if outer is not None:
            yield outer
            return
        with self.engine.connect().execution_options(darkroom_read=True) as conn:
            yield conn

    def insert_ignoring_conflicts(self, table: Table) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING, in this database's dialect: a repeat of the same row
        (same key) is a no-op, and `rowcount` says whether the row was new."""
        if self.is_sqlite:
            return sqlite_insert(table).on_conflict_do_nothing()
        return postgresql_insert(table).on_conflict_do_nothing()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the lock up front; readers take a snapshot and never block anyone.
    read_only = conn.get_execution_options().get("darkroom_read", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
