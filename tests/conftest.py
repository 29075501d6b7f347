"""Shared fixtures: one migrated database per test session (SQLite or PostgreSQL), the app,
and authenticated clients for fresh accounts (tenancy isolates tests from each other)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from routekeeper.accounts.service import create_account
from routekeeper.app import create_app
from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.settings import (
    DatabaseSettings,
    Environment,
    JobSettings,
    LimitSettings,
    RateRule,
    Settings,
)

PG_ENV = "ROUTEKEEPER_TEST_DATABASE_URL"

# Timing deadlines make property tests flaky on a loaded 2-core machine; speed is measured
# in bench/, not in unit tests.
hypothesis_settings.register_profile("routekeeper", deadline=None, print_blob=True)
hypothesis_settings.load_profile("routekeeper")


def _create_pg_database(server_url: str) -> tuple[str, str]:
    """Create a fresh database on the server and return (its url, its name)."""
    url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"rk_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(server_url: str, name: str) -> None:
    url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this test session: PostgreSQL when asked for, else SQLite."""
    server = os.environ.get(PG_ENV)
    if server:
        url, name = _create_pg_database(server)
        migrate.upgrade(url)
        yield url
        _drop_pg_database(server, name)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "routekeeper.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for tests: the session database, fast job polling, private webhook targets."""
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    return base.model_copy(
        update={
            "environment": Environment.TEST,
            "secret_key": secrets.token_urlsafe(32),
            "configured_public_url": "http://testserver",
            "database": DatabaseSettings(url=database_url),
            "jobs": JobSettings(run_in_api=False, poll_interval_s=0.05, lease_s=5.0,
                                retry_base_s=0.1, retry_max_s=1.0),
            "exports": base.exports.model_copy(
                update={"local_dir": tmp_path_factory.mktemp("exports")}
            ),
            "webhooks": base.webhooks.model_copy(update={"allow_private_targets": True}),
            # Limits stay on (every request goes through them) but far above what any test
            # sends; tests of the limits build apps with tight ones (tests/ops).
            "limits": LimitSettings(
                requests={name: RateRule(per_s=10_000.0, burst=100_000)
                          for name in base.limits.requests},
                failures_per_address=RateRule(per_s=10_000.0, burst=100_000),
                failures_per_account=RateRule(per_s=10_000.0, burst=100_000)),
        }
    )


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    """Direct database access for assertions and setup."""
    database = Database(settings.database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings):  # type: ignore[no-untyped-def]
    """The API app without an in-process worker (tests run jobs explicitly)."""
    return create_app(settings, run_worker=False)


@pytest.fixture
def anon(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client with no credentials."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


class Tenant:
    """A fresh account and a client authenticated as it."""

    def __init__(self, app, db: Database) -> None:  # type: ignore[no-untyped-def]
        with db.write() as session:
            creds = create_account(session, name="Test", contact_email="ops@example.com")
        self.account_id = creds.account_id
        self.secret_key = creds.secret_key
        self.client = TestClient(app, raise_server_exceptions=False)
        self.client.auth = (self.account_id, self.secret_key)


@pytest.fixture
def tenant(app, db: Database) -> Tenant:  # type: ignore[no-untyped-def]
    """A fresh account with an authenticated client."""
    return Tenant(app, db)


@pytest.fixture
def other_tenant(app, db: Database) -> Tenant:  # type: ignore[no-untyped-def]
    """A second, unrelated account."""
    return Tenant(app, db)


@pytest.fixture
def api(tenant: Tenant) -> TestClient:
    """The authenticated client of ``tenant``."""
    return tenant.client
