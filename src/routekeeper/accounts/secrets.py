"""Secret keys and bearer tokens.

Secret keys are 256-bit random strings, so a salted SHA-256 is enough to make a stolen
table useless: a slow password hash (scrypt, argon2) only matters for guessable secrets,
and here it would add tens of milliseconds to every request. Bearer tokens are stateless,
HMAC-signed with the server's secret key, and carry the account's secret version so that
rotating a secret revokes every token issued for the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from routekeeper.core.clock import utcnow
from routekeeper.core.signing_keys import SigningKeys, mac


def now_s() -> int:
    """The current Unix time in whole seconds (token issue and expiry use this clock)."""
    return int(utcnow().timestamp())


def new_secret_key() -> str:
    """A fresh SecretKey for an account."""
    return secrets.token_urlsafe(32)


def new_account_id() -> str:
    """A fresh AccountID (URL-safe, no colon so it fits HTTP Basic)."""
    return secrets.token_hex(16)


def hash_secret(secret: str, salt: str | None = None) -> tuple[str, str]:
    """Return ``(salt, hash)`` for a secret key."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256((salt + ":" + secret).encode()).hexdigest()
    return salt, digest


def verify_secret(secret: str, salt: str, expected_hash: str) -> bool:
    """Constant-time check of a secret key against its stored salted hash."""
    return hmac.compare_digest(hash_secret(secret, salt)[1], expected_hash)


@dataclass(frozen=True)
class TokenClaims:
    """What a bearer token says: whose it is, for which secret version, until when."""

    account_id: str
    secret_version: int
    expires_at: int
    scope: str = "api"
    subject: str | None = None


def _sign(server_secret: str, body: bytes) -> str:
    return base64.urlsafe_b64encode(mac(server_secret, body)).decode().rstrip("=")


def issue_token(server_secret: str, claims: TokenClaims) -> str:
    """Encode and sign a bearer token."""
    payload = {
        "a": claims.account_id, "v": claims.secret_version, "e": claims.expires_at,
        "s": claims.scope, "sub": claims.subject,
    }
    body = base64.urlsafe_b64encode(
        json.dumps(payload, separators=(",", ":")).encode()
    ).decode().rstrip("=")
    return f"{body}.{_sign(server_secret, body.encode())}"


def read_token(keys: SigningKeys, token: str, *, scope: str = "api") -> TokenClaims | None:
    """Decode a bearer token signed with any of ``keys``; None when forged, expired or of
    another scope."""
    try:
        body, signature = token.split(".", 1)
        if not keys.verifies(signature, lambda key: _sign(key, body.encode()), now=utcnow()):
            return None
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims = TokenClaims(
            account_id=str(data["a"]), secret_version=int(data["v"]),
            expires_at=int(data["e"]), scope=str(data.get("s", "api")), subject=data.get("sub"),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if claims.scope != scope or claims.expires_at <= now_s():
        return None
    return claims
