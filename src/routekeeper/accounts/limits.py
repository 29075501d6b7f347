"""Who may ask how often: per-account request limits and the brakes on guessing credentials.

Requests are charged to the account's bucket of their route class (``limits.requests``).
Failed credentials (HTTP Basic, ``/oauth/token``, ingest keys) are charged per source address
and per account; while either is empty, credentials from there are refused with a 429 before
they are checked, so a guess cannot be told apart from a refusal. The owner is protected
twice: a refused attempt costs nothing, so the owner waits at most one refill interval once
the flood stops; and an address that logged in to an account recently is exempt from that
account's failure limit, so a flood from elsewhere does not lock out its usual clients.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

from fastapi import Request
from sqlalchemy import Connection

from routekeeper.core import metrics
from routekeeper.core.errors import ApiError
from routekeeper.core.ratelimit import BucketStore, Decision, judge, now_s
from routekeeper.settings import LimitSettings, RateRule

log = logging.getLogger(__name__)

# How long a successful login exempts its address from the account's failure limit.
TRUSTED_ADDRESS_S = 7 * 24 * 3600.0
# Longest key part taken from client input (an account id is at most 64 characters).
_KEY_PART = 80

# (method or "*", path prefix, class): the first match names a request's class.
_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("*", "/console", "console"),
    ("POST", "/orders/export", "export"),
    ("POST", "/orders/plans", "plan"),
    ("POST", "/orders/estimate", "plan"),
    ("POST", "/devices/{device_id}/locations", "ingest"),
    ("POST", "/osmand", "ingest"),
    ("POST", "/owntracks", "ingest"),
)


def route_class(method: str, route: str) -> str:
    """The limit class of a request, from its method and route template."""
    for wanted, prefix, name in _CLASSES:
        if (wanted == "*" or wanted == method) and route.startswith(prefix):
            return name
    if method == "POST" and route in ("/orders", "/orders/"):
        return "plan"  # POST /orders/ batches orders and starts a planning run
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def too_many(retry_after_s: float, description: str) -> ApiError:
    """A 429 in the contract's ``Error`` shape, with ``Retry-After`` in whole seconds."""
    seconds = max(1, math.ceil(retry_after_s))
    return ApiError(429, {"code": "rate_limited", "title": "Too many requests",
                          "detail": {"description": f"{description} Retry in {seconds} s."}},
                    headers={"Retry-After": str(seconds)})


def _part(value: str) -> str:
    return value[:_KEY_PART]


def _failures_refusal(address: str | None, waits: Iterable[Decision]) -> ApiError | None:
    """The 429 for credentials from ``address`` while a failure bucket is empty, else None."""
    blocked = [wait.retry_after_s for wait in waits if not wait.allowed]
    if not blocked:
        return None
    metrics.RATE_LIMITED.labels("authentication").inc()
    log.warning("credentials refused unchecked: too many failures",
                extra={"event": "auth_limited", "client": address})
    return too_many(max(blocked), "Too many failed authentication attempts.")


class Guard:
    """The limits of one install, over one bucket store."""

    def __init__(self, store: BucketStore, settings: LimitSettings) -> None:
        self.store = store
        self.settings = settings

    def charge(self, account_id: str, klass: str) -> None:
        """Take a token of the account's ``klass`` bucket, or raise a 429."""
        rule = self.settings.requests.get(klass)
        if not self.settings.enabled or rule is None:
            return
        decision = self.store.hit(f"req:{klass}:{_part(account_id)}", rule, now_s())
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(klass).inc()
            raise too_many(decision.retry_after_s,
                           f"The account's {klass} request rate limit is exhausted.")

    def charge_devices(self, devices: Sequence[tuple[str, str]], connection: Connection
                       ) -> dict[tuple[str, str], ApiError]:
        """Take a token of each device's upload bucket (``limits.requests["device"]``) for
        several distinct (account id, device id) at once, in the caller's transaction (no
        second pool connection); the refused ones with their 429s. A client flooding one
        device is refused, the others are not."""
        rule = self.settings.requests.get("device")
        if not self.settings.enabled or rule is None or not devices:
            return {}
        keys = {f"dev:{_part(account_id)}:{_part(device_id)}": (account_id, device_id)
                for account_id, device_id in devices}
        refused: dict[tuple[str, str], ApiError] = {}
        for key, decision in self.store.hit_many(list(keys), rule, now_s(), connection).items():
            if not decision.allowed:
                metrics.RATE_LIMITED.labels("device").inc()
                refused[keys[key]] = too_many(decision.retry_after_s,
                                              "This device's upload rate limit is exhausted.")
        return refused

    def _failure_keys(self, address: str | None, principal: str | None,
                      ) -> list[tuple[str, RateRule]]:
        keys: list[tuple[str, RateRule]] = []
        if address:
            keys.append((f"fail:addr:{_part(address)}", self.settings.failures_per_address))
        if principal:
            keys.append((f"fail:acct:{_part(principal)}", self.settings.failures_per_account))
        return keys

    def check_attempt(self, address: str | None, principal: str | None) -> float:
        """Raise a 429 while failures from ``address`` or against ``principal`` are limited;
        else the time until which the address is trusted for the principal (for
        ``succeeded``)."""
        if not self.settings.enabled:
            return 0.0
        keys = self._failure_keys(address, principal)
        trusted = f"good:{_part(principal or '')}:{_part(address or '')}"
        stored = self.store.peek([key for key, _ in keys] + [trusted])
        now = now_s()
        exempt = stored.get(trusted, 0.0) > now
        waits = [judge(stored.get(key), rule, now)[0] for key, rule in keys
                 if not (exempt and key.startswith("fail:acct:"))]
        refusal = _failures_refusal(address, waits)
        if refusal is not None:
            raise refusal
        return stored.get(trusted, 0.0)

    def refused_addresses(self, addresses: Iterable[str | None], connection: Connection
                          ) -> dict[str | None, ApiError]:
        """``check_attempt`` without a principal (ingest keys name no account) for several
        addresses at once, in the caller's transaction: the 429 of each address whose
        failures are limited."""
        if not self.settings.enabled:
            return {}
        keyed = {address: self._failure_keys(address, None) for address in set(addresses)}
        stored = self.store.peek([key for keys in keyed.values() for key, _ in keys],
                                 connection)
        now = now_s()
        refused: dict[str | None, ApiError] = {}
        for address, keys in keyed.items():
            refusal = _failures_refusal(
                address, [judge(stored.get(key), rule, now)[0] for key, rule in keys])
            if refusal is not None:
                refused[address] = refusal
        return refused

    def failed(self, address: str | None, principal: str | None) -> None:
        """Count a failed authentication against the address and the principal."""
        if not self.settings.enabled:
            return
        now = now_s()
        for key, rule in self._failure_keys(address, principal):
            self.store.hit(key, rule, now)

    def succeeded(self, address: str | None, principal: str, trusted_until: float) -> None:
        """Remember that ``address`` knows ``principal``'s credentials."""
        if not self.settings.enabled or not address:
            return
        now = now_s()
        # One write a day per address and account, not one per request.
        if trusted_until < now + TRUSTED_ADDRESS_S - 24 * 3600:
            self.store.mark(f"good:{_part(principal)}:{_part(address)}",
                            now + TRUSTED_ADDRESS_S)


def guard(request: Request) -> Guard:
    """The app's guard."""
    found: Guard = request.app.state.guard
    return found


def client_address(request: Request) -> str | None:
    """The address a request came from (the proxy-resolved one behind a trusted proxy)."""
    return request.client.host if request.client else None
