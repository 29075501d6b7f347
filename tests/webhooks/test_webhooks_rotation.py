"""Secret rotation: during the overlap both secrets verify; afterwards only the new one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.webhooks.signing import hypertrack_signature

from .helpers import all_final, cancel_order, create_endpoint, drain, new_order
from .receiver import Receiver


def test_both_secrets_verify_during_the_overlap_and_only_the_new_after(
    api: TestClient, receiver: Receiver, runner: JobRunner, db: Database
) -> None:
    """Rotated: two signatures per header; once the overlap ends, one (the new secret's)."""
    endpoint = create_endpoint(api, receiver.url)
    old = endpoint["secret"]
    new = api.post(f"/webhooks/endpoints/{endpoint['id']}/rotate-secret").json()["secret"]
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    during = receiver.accepted()[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(during.body, during.headers) == during.events()
    assert Webhook(new).verify(during.body, during.headers) == during.events()
    assert during.headers["x-hypertrack-signature"].split(" ") == [
        hypertrack_signature(new, during.body), hypertrack_signature(old, during.body),
    ]

    # The overlap is over (as if secret_rotation_overlap_s had passed).
    with db.write() as session:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint["id"])
                        .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1)))
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 2))
    after = receiver.accepted()[-1]
    assert Webhook(new).verify(after.body, after.headers) == after.events()
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    assert after.headers["x-hypertrack-signature"] == hypertrack_signature(new, after.body)
