"""Token buckets shared by every process: one mechanism for request limits and failed logins.

A bucket of ``burst`` tokens refilled at ``per_s`` is kept as one number, the time at which
it would be full again (the "theoretical arrival time" of the generic cell rate algorithm,
which is a token bucket written differently). A request of cost 1 moves that time one
interval ``1 / per_s`` later (from now, if it lies in the past) and is allowed when it then
lies at most ``burst`` intervals ahead; a refused request changes nothing, so whoever waits
``Retry-After`` seconds is let in. On PostgreSQL the check and the update are one
``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement, atomic across processes; a
single-process SQLite install keeps buckets in memory. Clocks are the processes' own
(``time.time``): machines serving one database keep them in sync with NTP anyway.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, bindparam, delete, select, text

from routekeeper.db.engine import Database
from routekeeper.models.rate_limit import RateLimitBucket
from routekeeper.settings import RateRule


@dataclass(frozen=True)
class Decision:
    """Whether a request may go ahead, and if not, after how many seconds it may."""

    allowed: bool
    retry_after_s: float = 0.0


def _interval(rule: RateRule) -> float:
    return 1.0 / rule.per_s


def judge(tat_s: float | None, rule: RateRule, now_s: float) -> tuple[Decision, float]:
    """The decision for one request on a bucket at ``tat_s``, and the bucket's next value."""
    interval = _interval(rule)
    after = max(tat_s if tat_s is not None else now_s, now_s) + interval
    ahead = after - now_s
    limit = rule.burst * interval
    if ahead <= limit + 1e-9:
        return Decision(True), after
    return Decision(False, ahead - limit), tat_s if tat_s is not None else now_s


class BucketStore(Protocol):
    """Where buckets live."""

    def hit(self, key: str, rule: RateRule, now_s: float,
            connection: Connection | None = None) -> Decision:
        """Take one token from ``key``'s bucket if it has one; with ``connection``, inside
        the caller's transaction on it (stores that keep no rows ignore it)."""

    def peek(self, keys: Iterable[str], connection: Connection | None = None
             ) -> dict[str, float]:
        """The stored times of those ``keys`` that have a bucket."""

    def hit_many(self, keys: Sequence[str], rule: RateRule, now_s: float,
                 connection: Connection | None = None) -> dict[str, Decision]:
        """``hit`` for several distinct keys at once (a group of uploads)."""

    def mark(self, key: str, until_s: float) -> None:
        """Store ``until_s`` under ``key`` (a flag that holds until then)."""

    def prune(self, now_s: float) -> int:
        """Forget buckets that are full again (they behave as absent ones)."""


class MemoryBuckets:
    """Buckets of one process (a SQLite install serves from one process)."""

    # Past this many buckets, full ones are forgotten before adding more.
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, rule: RateRule, now_s: float,
            connection: Connection | None = None) -> Decision:
        """Take one token from ``key``'s bucket if it has one."""
        with self._lock:
            decision, after = judge(self._tat.get(key), rule, now_s)
            if decision.allowed:
                if len(self._tat) >= self.MAX_KEYS and key not in self._tat:
                    self._prune_locked(now_s)
                self._tat[key] = after
            return decision

    def peek(self, keys: Iterable[str], connection: Connection | None = None
             ) -> dict[str, float]:
        """The stored times of those ``keys`` that have a bucket."""
        with self._lock:
            return {key: self._tat[key] for key in keys if key in self._tat}

    def hit_many(self, keys: Sequence[str], rule: RateRule, now_s: float,
                 connection: Connection | None = None) -> dict[str, Decision]:
        """``hit`` each key."""
        return {key: self.hit(key, rule, now_s) for key in keys}

    def mark(self, key: str, until_s: float) -> None:
        """Store ``until_s`` under ``key``."""
        with self._lock:
            self._tat[key] = until_s

    def prune(self, now_s: float) -> int:
        """Forget buckets that are full again."""
        with self._lock:
            return self._prune_locked(now_s)

    def _prune_locked(self, now_s: float) -> int:
        stale = [key for key, tat in self._tat.items() if tat <= now_s]
        for key in stale:
            del self._tat[key]
        return len(stale)


# SQLite (the ``database`` backend chosen explicitly) spells GREATEST as the scalar MAX.
_HIT = """
INSERT INTO rate_limit_bucket (key, tat_s) VALUES (:key, :now + :interval)
ON CONFLICT (key) DO UPDATE
   SET tat_s = {greatest}(rate_limit_bucket.tat_s, :now) + :interval
 WHERE {greatest}(rate_limit_bucket.tat_s, :now) + :interval - :now <= :limit
RETURNING tat_s
"""

# The same for many distinct keys in one statement (PostgreSQL): the keys it returns were let
# in; the others were refused and are unchanged.
_HIT_MANY = text("""
INSERT INTO rate_limit_bucket (key, tat_s)
SELECT stored_key, :now + :interval FROM unnest(CAST(:keys AS text[])) AS stored_key
ON CONFLICT (key) DO UPDATE
   SET tat_s = GREATEST(rate_limit_bucket.tat_s, :now) + :interval
 WHERE GREATEST(rate_limit_bucket.tat_s, :now) + :interval - :now <= :limit
RETURNING key
""")

_MARK = text("""
INSERT INTO rate_limit_bucket (key, tat_s) VALUES (:key, :until)
ON CONFLICT (key) DO UPDATE SET tat_s = :until
""")


def _stored(key: str) -> str:
    """The key as the table holds it: a digest, because keys carry what clients sent (an
    account id may hold NUL, which PostgreSQL text refuses, or run past the column)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# Built once: every group of uploads peeks at its addresses' failure buckets, and composing
# the statement anew each time was most of the peek's cost in the API process.
_PEEK = select(RateLimitBucket.key, RateLimitBucket.tat_s).where(
    RateLimitBucket.key.in_(bindparam("keys", expanding=True)))


class DatabaseBuckets:
    """Buckets in the ``rate_limit_bucket`` table, shared by every process of the install."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._hit = text(_HIT.format(greatest="GREATEST" if db.is_postgres else "MAX"))

    def hit(self, key: str, rule: RateRule, now_s: float,
            connection: Connection | None = None) -> Decision:
        """Take one token from ``key``'s bucket if it has one, in one atomic statement.

        With ``connection`` (a request already in a transaction, such as an upload), the
        statement runs in that transaction instead of taking a second connection from the
        pool: under load, requests each holding one connection and waiting for another
        would exhaust the pool."""
        interval = _interval(rule)
        if connection is not None:
            params = {"key": _stored(key), "now": now_s, "interval": interval,
                      "limit": rule.burst * interval + 1e-9}
            if connection.execute(self._hit, params).first() is not None:
                return Decision(True)
            tat = connection.scalar(select(RateLimitBucket.tat_s).where(
                RateLimitBucket.key == _stored(key)))
            return judge(tat, rule, now_s)[0]
        with self.db.engine.connect() as connection:
            row = connection.execute(self._hit, {
                "key": _stored(key), "now": now_s, "interval": interval,
                "limit": rule.burst * interval + 1e-9,
            }).first()
            if row is not None:
                connection.commit()
                return Decision(True)
            tat = connection.scalar(select(RateLimitBucket.tat_s).where(
                RateLimitBucket.key == _stored(key)))
            connection.commit()
        return judge(tat, rule, now_s)[0]

    def peek(self, keys: Iterable[str], connection: Connection | None = None
             ) -> dict[str, float]:
        """The stored times of those ``keys`` that have a bucket; with ``connection``, in the
        caller's transaction."""
        wanted = {_stored(key): key for key in keys}
        params = {"keys": list(wanted)}
        if connection is not None:
            rows = connection.execute(_PEEK, params).all()
        else:
            with self.db.engine.connect() as own:
                rows = own.execute(_PEEK, params).all()
                own.commit()
        return {wanted[str(stored)]: float(tat) for stored, tat in rows}

    def hit_many(self, keys: Sequence[str], rule: RateRule, now_s: float,
                 connection: Connection | None = None) -> dict[str, Decision]:
        """``hit`` for several distinct keys: one statement on PostgreSQL (a refused key's
        wait is then read back), one per key elsewhere or without ``connection``."""
        if connection is None or not self.db.is_postgres:
            return {key: self.hit(key, rule, now_s, connection) for key in keys}
        interval = _interval(rule)
        stored = {_stored(key): key for key in keys}
        allowed = set(connection.scalars(_HIT_MANY, {
            "keys": list(stored), "now": now_s, "interval": interval,
            "limit": rule.burst * interval + 1e-9}))
        decisions = {stored[key]: Decision(True) for key in allowed}
        refused = [key for key in stored if key not in allowed]
        if refused:
            tats = dict(connection.execute(select(RateLimitBucket.key, RateLimitBucket.tat_s)
                                           .where(RateLimitBucket.key.in_(refused))).all())
            for key in refused:
                decisions[stored[key]] = judge(tats.get(key), rule, now_s)[0]
        return decisions

    def mark(self, key: str, until_s: float) -> None:
        """Store ``until_s`` under ``key``."""
        with self.db.engine.connect() as connection:
            connection.execute(_MARK, {"key": _stored(key), "until": until_s})
            connection.commit()

    def prune(self, now_s: float) -> int:
        """Delete buckets that are full again."""
        with self.db.engine.connect() as connection:
            result = connection.execute(delete(RateLimitBucket).where(
                RateLimitBucket.tat_s <= now_s))
            connection.commit()
        return int(result.rowcount)


def bucket_store(db: Database, backend: str) -> BucketStore:
    """The store a setting names: ``database``, ``memory``, or ``auto`` (the database on
    PostgreSQL, where several processes serve; memory on SQLite, where one does)."""
    if backend == "database" or (backend == "auto" and db.is_postgres):
        return DatabaseBuckets(db)
    if backend in ("memory", "auto"):
        return MemoryBuckets()
    raise ValueError(f"unknown rate-limit backend {backend!r}")


def now_s() -> float:
    """The clock buckets are kept in."""
    return time.time()
