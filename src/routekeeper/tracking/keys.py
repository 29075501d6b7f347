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
import threading
import time
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


class KeyCache:
    """Which device a key belongs to, remembered for ``ttl_s`` (per process).

    Only the device's identity is kept, under the key's hash: the upload still reads the
    device row by its primary key (for its newest position) and checks the key against the
    row's hash, so a rotated key or a deleted device is refused at once; what the cache saves
    is the search by prefix among every account's devices.
    """

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[str, str] | None:
        """(account id, device id) of a key's hash, while remembered."""
        entry = self._entries.get(digest)
        if entry is None or entry[2] < time.monotonic():
            return None
        return entry[0], entry[1]

    def put(self, digest: str, account_id: str, device_id: str) -> None:
        """Remember a key's device."""
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (account_id, device_id, time.monotonic() + self.ttl_s)

    def forget(self, digest: str) -> None:
        """Drop a key (its row no longer matches)."""
        with self._lock:
            self._entries.pop(digest, None)
