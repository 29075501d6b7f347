"""Opaque keyset pagination tokens, signed and bound to the filters they were made with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from routekeeper.core.errors import invalid_field

_INVALID = "Not a valid pagination token for this request."


def _filters_digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(secret: str, key: list[Any], filters: dict[str, Any]) -> str:
    """Make a token that resumes after ``key`` for exactly these ``filters``."""
    body = json.dumps({"k": key, "f": _filters_digest(filters)}, separators=(",", ":"))
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac + body.encode()).decode().rstrip("=")


def decode_token(secret: str, token: str, filters: dict[str, Any]) -> list[Any]:
    """Return the keyset position of a token; a forged token or other filters is a 422."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, body = raw[:12], raw[12:]
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()[:12]
        if not hmac.compare_digest(mac, expected):
            raise ValueError("bad signature")
        data = json.loads(body)
        key = data["k"]
        if not isinstance(key, list):
            raise ValueError("bad key")
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_field("query", "pagination_token", _INVALID) from exc
    if data.get("f") != _filters_digest(filters):
        raise invalid_field(
            "query", "pagination_token", "The pagination token was made with other filters."
        )
    return key
