"""Ingest keys: random device credentials of which only a hash and a lookup prefix are stored.

A key is ``rkd_`` followed by 43 URL-safe characters (256 random bits). The 8 characters after
the marker are kept in clear as a lookup prefix, so a request that carries only the key (the
OsmAnd ``id``) finds its device with one indexed query; the rest is only ever compared as a
SHA-256 hash. A salted slow hash is unnecessary for 256-bit random secrets (nobody can guess
one), and would cost milliseconds on every position upload.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_MARKER = "rkd_"
PREFIX_CHARS = 8
_RANDOM_BYTES = 32
_KEY_CHARS = len(KEY_MARKER) + 43


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key (shown once) and what is stored of it."""

    key: str
    prefix: str
    digest: str


def digest_of(key: str) -> str:
    """The stored hash of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> NewKey:
    """Generate an unguessable ingest key."""
    key = KEY_MARKER + secrets.token_urlsafe(_RANDOM_BYTES)
    return NewKey(key=key, prefix=prefix_of(key) or "", digest=digest_of(key))


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has the shape of an ingest key (as opposed to an account token)."""
    return text.startswith(KEY_MARKER)


def prefix_of(key: str) -> str | None:
    """The lookup prefix of a well-formed key; None for anything that cannot be a key."""
    if not looks_like_key(key) or len(key) != _KEY_CHARS or not key.isascii():
        return None
    return key[len(KEY_MARKER):len(KEY_MARKER) + PREFIX_CHARS]


def matches(key: str, stored_digest: str) -> bool:
    """Constant-time check of a presented key against a stored hash."""
    return hmac.compare_digest(digest_of(key), stored_digest)
