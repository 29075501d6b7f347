"""Alembic environment: one set of migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from alembic import context
from sqlalchemy import Connection

import routekeeper.models  # noqa: F401 - registers every table on Base.metadata
from routekeeper.db.base import Base
from routekeeper.db.engine import Database
from routekeeper.settings import Settings

config = context.config
target_metadata = Base.metadata
# The day partitions of ``position`` on PostgreSQL (migration 2017b): made and dropped by the
# retention job, not by the models.
_PARTITION = re.compile(r"^position_p\d{8}$")


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                    compare_to: Any) -> bool:
    return not (type_ == "table" and reflected and name is not None
                and _PARTITION.match(name) is not None)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations against the configured database (or a connection handed in)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    settings = Settings()
    if url:
        settings.database.url = url
    db = Database(settings.database)
    try:
        with db.engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        db.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
