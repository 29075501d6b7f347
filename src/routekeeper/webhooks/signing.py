"""Signing secrets and the two signature headers of every delivery.

- ``webhook-signature`` (Standard Webhooks): ``v1,<base64 HMAC-SHA256>`` of
  ``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed by the base64-decoded secret.
- ``x-hypertrack-signature`` (HyperTrack's header; its algorithm is ours to choose):
  ``sha256=<hex HMAC-SHA256>`` of the raw body, keyed by the same decoded secret.

During a rotation overlap both headers carry one signature per live secret, newest first,
separated by a space, so a receiver verifying with either secret succeeds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret in Standard Webhooks form, ``whsec_<base64 of 32 bytes>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the bytes its base64 part encodes."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("not a whsec_ secret") from exc


def standard_signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature, ``v1,<base64>``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def hypertrack_signature(secret: str, body: bytes) -> str:
    """One ``x-hypertrack-signature`` value, ``sha256=<hex>`` of the body."""
    return "sha256=" + hmac.new(secret_key(secret), body, hashlib.sha256).hexdigest()


def signature_headers(
    live_secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The identity and signature headers of one attempt, signed with every live secret."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(s, webhook_id, timestamp, body) for s in live_secrets
        ),
        "x-hypertrack-signature": " ".join(hypertrack_signature(s, body) for s in live_secrets),
        # HyperTrack's deliveries carry their dedup key in this (AWS SNS) header.
        "x-amz-sns-message-id": webhook_id,
    }


def batch_webhook_id(event_ids: Sequence[str]) -> str:
    """The ``webhook-id`` of a batch: the event id alone, or a digest of all of them.

    Equal ids mean equal contents, so a receiver that skips ids it has seen never skips an
    event it has not seen.
    """
    if len(event_ids) == 1:
        return event_ids[0]
    digest = hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:32]
    return f"batch_{digest}"
