"""The server's signing keys: one current key signs, the previous one still verifies for a while.

Bearer tokens, embed tokens, pagination tokens and export download links are HMACs under the
server's key, so whoever knows the key can mint any of them. Hence:

- no key ships with the code: without ``ROUTEKEEPER_SECRET_KEY`` the first start generates
  256 random bits and keeps them in ``<data_dir>/signing_key.json`` (mode 0600), so every
  install has its own key and restarts (and a worker process next to the API) share it;
- a short, low-entropy or published key is refused in every environment;
- rotation: the current key signs everything new, the previous key keeps verifying until a
  stated instant, so links and tokens issued just before a rotation keep working until then.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", str, bytes)

KEY_FILE_NAME = "signing_key.json"
# 32 characters of a URL-safe alphabet are ~190 bits at random; shorter keys are refused.
MIN_KEY_LENGTH = 32
# A long key typed by a person ("aaaa...", "changemechangeme...") has few distinct characters.
MIN_DISTINCT_CHARACTERS = 12
# Keys that were published in this code base's history or its examples: never accepted.
KNOWN_KEYS = frozenset({
    "development-secret-do-not-use-in-production",
    "test-secret-key",
    "cli-test-secret",
    "planner-benchmark",
    "changeme",
    "secret",
})


class SigningKeyError(ValueError):
    """A configured or stored signing key that must not be used."""


def check_key(key: str, *, name: str = "ROUTEKEEPER_SECRET_KEY") -> str:
    """Return ``key`` if it is fit to sign with, else raise :class:`SigningKeyError`."""
    if key in KNOWN_KEYS:
        raise SigningKeyError(f"{name} is a published key; generate one with "
                              "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if len(key) < MIN_KEY_LENGTH:
        raise SigningKeyError(f"{name} must be at least {MIN_KEY_LENGTH} characters long")
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        raise SigningKeyError(f"{name} looks typed, not random; use a random key")
    return key


def new_key() -> str:
    """A fresh random signing key (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SigningKeys:
    """The key that signs, and the previous key that still verifies until ``previous_until``."""

    current: str
    previous: str | None = None
    previous_until: datetime | None = None

    def derive(self, purpose: str) -> SigningKeys:
        """Keys for one purpose only (HMAC of each key and ``purpose``): what one purpose
        signs does not verify under another."""
        def one(key: str) -> str:
            return mac(key, purpose.encode()).hex()
        return SigningKeys(one(self.current), one(self.previous) if self.previous else None,
                           self.previous_until)

    def verifying(self, now: datetime) -> tuple[str, ...]:
        """Every key a signature may be made with at ``now``, the current one first."""
        if self.previous and self.previous_until and now < self.previous_until:
            return (self.current, self.previous)
        return (self.current,)

    def verifies(self, offered: T, sign: Callable[[str], T], *, now: datetime) -> bool:
        """Whether ``offered`` is what ``sign`` makes under a key still verifying at ``now``
        (compared in constant time)."""
        return any(hmac.compare_digest(offered, sign(key))
                   for key in self.verifying(now))


def mac(key: str, body: bytes) -> bytes:
    """The HMAC-SHA256 of ``body`` under ``key``: every token, link and derived key here."""
    return hmac.new(key.encode(), body, hashlib.sha256).digest()


def _to_json(keys: SigningKeys) -> str:
    data: dict[str, str] = {"current": keys.current}
    if keys.previous and keys.previous_until:
        data["previous"] = keys.previous
        data["previous_until"] = keys.previous_until.isoformat()
    return json.dumps(data, indent=2) + "\n"


def _from_json(text: str, path: Path) -> SigningKeys:
    try:
        data = json.loads(text)
        current = check_key(str(data["current"]), name=f"the key in {path}")
        previous = data.get("previous")
        until = data.get("previous_until")
        if previous is None or until is None:
            return SigningKeys(current)
        moment = datetime.fromisoformat(str(until))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return SigningKeys(current, check_key(str(previous), name=f"the previous key in {path}"),
                           moment)
    except (ValueError, KeyError, TypeError) as exc:
        raise SigningKeyError(f"unreadable signing key file {path}: {exc}") from exc


def _write_new(path: Path, keys: SigningKeys) -> bool:
    """Write ``keys`` to ``path`` unless it exists; False when another process won the race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(_to_json(keys))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() never replaces: of two processes starting at once, exactly one key wins.
            os.link(staging, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)


_cache: dict[Path, SigningKeys] = {}
_cache_lock = threading.Lock()


def load_or_create(path: Path) -> SigningKeys:
    """The keys kept in ``path``, generated there (mode 0600) on first use."""
    resolved = path.resolve()
    with _cache_lock:
        cached = _cache.get(resolved)
        if cached is not None:
            return cached
        if not resolved.exists():
            _write_new(resolved, SigningKeys(new_key()))
        mode = resolved.stat().st_mode & 0o777
        if mode & 0o077:
            raise SigningKeyError(f"{resolved} is readable by others (mode {mode:o}); "
                                  "run chmod 600 on it")
        keys = _from_json(resolved.read_text(), resolved)
        _cache[resolved] = keys
        return keys


def rotate_file(path: Path, *, grace_s: float, now: datetime) -> SigningKeys:
    """Make a new current key in ``path``; the old one verifies for ``grace_s`` seconds more."""
    resolved = path.resolve()
    old = load_or_create(resolved)
    rotated = SigningKeys(new_key(), old.current, now + timedelta(seconds=grace_s))
    staging = resolved.with_name(f".{resolved.name}.rotate.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_to_json(rotated))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, resolved)
    with _cache_lock:
        _cache[resolved] = rotated
    return rotated
