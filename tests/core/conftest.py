"""Fixtures of the job queue tests: a database of their own, emptied before each test.

The claim query takes any due job, whoever enqueued it, so these tests run on a migrated
database that no other test writes to (PostgreSQL when ROUTEKEEPER_TEST_DATABASE_URL is set,
else SQLite), and start every test with an empty queue.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import URL, make_url

from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.models.account import Account
from routekeeper.models.job import Job
from routekeeper.settings import DatabaseSettings

PG_ENV = "ROUTEKEEPER_TEST_DATABASE_URL"


def _server_url(server: str) -> URL:
    return make_url(server.replace("postgresql://", "postgresql+psycopg://", 1))


def _pg_admin(server: str, statement: str) -> None:
    admin = create_engine(_server_url(server).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def queue_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a migrated database used only by the job queue tests."""
    server = os.environ.get(PG_ENV)
    if server:
        name = f"rk_jobs_{os.getpid()}_{secrets.token_hex(3)}"
        _pg_admin(server, f'CREATE DATABASE "{name}"')
        url = _server_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            migrate.upgrade(url)
            yield url
        finally:
            _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path: Path = tmp_path_factory.mktemp("jobs") / "jobs.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def queue_engine_db(queue_url: str) -> Iterator[Database]:
    """One Database over the queue tests' database for the whole session."""
    database = Database(DatabaseSettings(url=queue_url))
    yield database
    database.dispose()


@pytest.fixture
def queue_db(queue_engine_db: Database) -> Database:
    """The queue tests' database with no jobs and no effect rows left by earlier tests."""
    with queue_engine_db.write() as session:
        session.execute(delete(Job))
        # Account rows are the tasks' countable effects here: nothing else uses this database.
        session.execute(delete(Account))
    return queue_engine_db
