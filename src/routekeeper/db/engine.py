"""Engines and sessions: write sessions and read sessions, one commit per unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from routekeeper.settings import DatabaseSettings


def normalise_url(url: str) -> str:
    # Plain postgresql:// URLs get the psycopg 3 driver we depend on.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _configure_sqlite(engine: Engine, settings: DatabaseSettings) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE is possible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later writes
        # can fail with SQLITE_BUSY instead of waiting, which would surface as a 500.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def json_text(value: Any) -> str:
    """A JSON value as text for PostgreSQL (keys that are not strings become strings, as with
    json.dumps)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Database:
    """Owns the engine and hands out sessions; the caller's unit of work commits once."""

    def __init__(self, settings: DatabaseSettings) -> None:
        url = normalise_url(settings.url)
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": settings.echo, "future": True}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_size"] = settings.pool_size
            kwargs["max_overflow"] = settings.pool_size
            kwargs["pool_pre_ping"] = True
            # JSONB values are decoded by orjson (psycopg's loader): several times faster than
            # json.loads, which showed up as a fifth of a page of plans (docs/benchmarks/plans.md).
            kwargs["json_deserializer"] = orjson.loads
            # And encoded by orjson: json.dumps of a route's tracking state was 4 % of the
            # tracking processor's time (docs/benchmarks/ingest.md).
            kwargs["json_serializer"] = json_text
        self.engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, settings)
            write_engine: Engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            write_engine = self.engine
        self._write = sessionmaker(bind=write_engine, expire_on_commit=False)
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session for a unit of work that writes: commit at the end, roll back on error."""
        session = self._write()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session that only reads; it never commits."""
        session = self._read()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
