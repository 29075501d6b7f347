"""Fixtures of the webhook tests: a loopback receiver, fast settings and a job runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.settings import Settings
from routekeeper.webhooks import repository

from .helpers import fast_settings, make_runner
from .receiver import Receiver


@pytest.fixture(autouse=True)
def retire_endpoints(db: Database) -> Iterator[None]:
    """Disable the endpoints a test created once it is over, so that no later test's job
    runner keeps retrying (or disables and mails about) a receiver that is gone."""
    started = utcnow()
    yield
    with db.write() as session:
        created = session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.created_at >= started,
                                          WebhookEndpoint.enabled.is_(True))
        )
        for endpoint in created:
            endpoint.enabled = False
            repository.cancel_pending(session, endpoint.account_id, endpoint.id,
                                      status="cancelled", reason="test over", now=utcnow())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording HTTP receiver on an ephemeral loopback port."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Settings with a retry schedule that runs out within a second."""
    return fast_settings(settings)


@pytest.fixture
def runner(db: Database, hook_settings: Settings) -> JobRunner:
    """A job runner with the fast webhook settings."""
    return make_runner(db, hook_settings)
