"""Secrets and signatures, checked against the standardwebhooks reference package."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from routekeeper.webhooks.signing import (
    batch_webhook_id,
    hypertrack_signature,
    new_secret,
    secret_key,
    signature_headers,
    standard_signature,
)


def test_new_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    """Every secret is ``whsec_`` + base64 of 32 bytes, and no two are alike."""
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_standard_signature_verifies_with_the_reference_package() -> None:
    """Our ``v1`` signature is what standardwebhooks computes and accepts."""
    secret = new_secret()
    body = json.dumps([{"id": "e1", "data": {"value": "completed", "note": "\u00e9\n"}}],
                      ensure_ascii=False).encode()
    now = int(time.time())
    headers = signature_headers([secret], "e1", now, body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    assert headers["webhook-signature"] == standard_signature(secret, "e1", now, body)


def test_tampering_fails_verification() -> None:
    """A changed body, id or secret does not verify."""
    secret = new_secret()
    body = b'[{"id":"e1"}]'
    headers = signature_headers([secret], "e1", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'[{"id":"e2"}]', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "e2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_two_live_secrets_give_two_signatures_each_verifiable() -> None:
    """During a rotation overlap either secret verifies both headers."""
    new, old = new_secret(), new_secret()
    body = b'[{"id":"e1"}]'
    headers = signature_headers([new, old], "e1", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    for secret in (new, old):
        digest = hmac.new(secret_key(secret), body, hashlib.sha256).hexdigest()
        assert f"sha256={digest}" in headers["x-hypertrack-signature"].split(" ")
    assert hypertrack_signature(new, body) == headers["x-hypertrack-signature"].split(" ")[0]


def test_secret_key_refuses_non_base64() -> None:
    """A secret that is not base64 is an error, not a silent weak key."""
    with pytest.raises(ValueError):
        secret_key("whsec_***")


def test_batch_ids_identify_their_contents() -> None:
    """One event keeps its id; a batch id changes with any change of its events."""
    assert batch_webhook_id(["e1"]) == "e1"
    both = batch_webhook_id(["e1", "e2"])
    assert both.startswith("batch_") and both == batch_webhook_id(["e1", "e2"])
    assert both != batch_webhook_id(["e1", "e3"]) != batch_webhook_id(["e1", "e2", "e3"])
