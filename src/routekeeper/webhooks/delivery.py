"""One HTTP attempt of a batch, how its outcome is judged, and when to try again.

2xx is delivered; 4xx other than 408 and 429 is delivered-but-rejected (the receiver saw it
and said no: sending it again would not change its mind); everything else (3xx, 408, 429,
5xx, timeouts, connection errors, refused targets) is retried. Redirects are not followed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import httpx

from routekeeper import __version__
from routekeeper.settings import WebhookSettings
from routekeeper.webhooks.safety import IPAddress, Target, UnsafeTarget, checked_addresses

USER_AGENT = f"Routekeeper-Webhooks/{__version__}"
# Retries land up to 10% after their scheduled offset, so receivers that failed together
# are not all retried in the same second.
JITTER = 0.1


Outcome = StrEnum("Outcome", "DELIVERED REJECTED RETRY")


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to."""

    outcome: Outcome
    http_status: int | None = None
    response_text: str | None = None
    error: str | None = None


def classify(status: int) -> Outcome:
    """Judge an HTTP status: delivered, rejected for good, or worth another try."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if 400 <= status < 500 and status not in (408, 429):
        return Outcome.REJECTED
    return Outcome.RETRY


def next_attempt_at(
    first_attempt_at: datetime,
    attempts: int,
    schedule: list[float],
    *,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after ``attempts`` failed attempts, or None when the schedule is over.

    ``schedule`` holds offsets from the first attempt. An attempt that ran late (a backlog)
    still waits at least the schedule's own gap, so a backlog never burns several retries
    in a row.
    """
    if attempts > len(schedule):
        return None
    offset = schedule[attempts - 1]
    gap = offset - (schedule[attempts - 2] if attempts >= 2 else 0.0)
    factor = (rng or random).uniform(1.0, 1.0 + JITTER)
    planned = first_attempt_at + timedelta(seconds=offset * factor)
    return max(planned, now + timedelta(seconds=max(gap, 0.0) * factor))


def _pinned_url(target: Target, address: IPAddress) -> httpx.URL:
    return target.url.copy_with(host=str(address), fragment=None)


def _read_text(response: httpx.Response, limit: int, deadline: float) -> str:
    # Read at most ``limit`` bytes: a receiver's error page is evidence, not payload.
    data = bytearray()
    for chunk in response.iter_bytes():
        data.extend(chunk)
        if len(data) >= limit or time.monotonic() > deadline:
            break
    return bytes(data[:limit]).decode("utf-8", "replace")


def _attempt(
    client: httpx.Client,
    target: Target,
    address: IPAddress,
    body: bytes,
    headers: dict[str, str],
    settings: WebhookSettings,
) -> AttemptResult:
    extensions = {} if target.is_ip_literal else {"sni_hostname": target.host}
    request = client.build_request(
        "POST", _pinned_url(target, address), content=body,
        # The Host header (and TLS name) stay the URL's: only the connection is pinned.
        headers={**headers, "host": target.url.netloc.decode("ascii")},
        extensions=extensions,
    )
    deadline = time.monotonic() + settings.timeout_s
    response = client.send(request, stream=True)
    try:
        text = _read_text(response, settings.max_response_bytes, deadline)
    finally:
        response.close()
    return AttemptResult(classify(response.status_code), response.status_code, text)


def post_batch(
    target: Target, body: bytes, headers: dict[str, str], settings: WebhookSettings
) -> AttemptResult:
    """POST a signed batch to a checked address of the target and judge the answer."""
    try:
        addresses = checked_addresses(target, allow_private=settings.allow_private_targets)
    except UnsafeTarget as exc:
        return AttemptResult(Outcome.RETRY, error=f"Refused: {exc}")
    all_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    error = "No address to connect to."
    with httpx.Client(
        timeout=settings.timeout_s, follow_redirects=False, trust_env=False
    ) as client:
        for address in addresses:
            try:
                return _attempt(client, target, address, body, all_headers, settings)
            except httpx.ConnectError as exc:
                # Another address of the same name may answer (IPv6 down, IPv4 up).
                error = f"Connection to {address} failed: {exc or type(exc).__name__}"
            except httpx.TimeoutException as exc:
                return AttemptResult(
                    Outcome.RETRY,
                    error=f"Timed out after {settings.timeout_s:g} s ({type(exc).__name__}).",
                )
            except httpx.HTTPError as exc:
                return AttemptResult(Outcome.RETRY, error=f"{type(exc).__name__}: {exc}")
    return AttemptResult(Outcome.RETRY, error=error[:500])
