"""Rate limits: per account and route class, 429 in the contract's shape with Retry-After;
failed credentials limited per address and account without locking the owner out."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from routekeeper.accounts.limits import route_class
from routekeeper.app import create_app
from routekeeper.core.ratelimit import MemoryBuckets, judge
from routekeeper.settings import LimitSettings, RateRule, Settings
from tests.conftest import Tenant

GENEROUS = RateRule(per_s=10_000.0, burst=100_000)


def limited_settings(settings: Settings, **changes: object) -> Settings:
    """The session's settings with these limit settings (the rest generous)."""
    limits = LimitSettings(
        requests={name: GENEROUS for name in LimitSettings().requests},
        failures_per_address=GENEROUS, failures_per_account=GENEROUS)
    return settings.model_copy(update={"limits": limits.model_copy(update=changes)})


@pytest.fixture
def tight_app(settings: Settings) -> Iterator[object]:
    """An app whose reads are limited to a burst of 5, refilled every 2 seconds."""
    yield create_app(limited_settings(settings, requests={
        **{name: GENEROUS for name in LimitSettings().requests},
        "read": RateRule(per_s=0.5, burst=5)}), run_worker=False)


def client_of(app: object, tenant: Tenant, address: str = "10.0.0.1") -> TestClient:
    """A client of ``app`` authenticated as ``tenant``, from ``address``."""
    client = TestClient(app, raise_server_exceptions=False,  # type: ignore[arg-type]
                        client=(address, 40000))
    client.auth = (tenant.account_id, tenant.secret_key)
    return client


def test_a_burst_gets_429s_and_other_accounts_are_unaffected(
    tight_app: object, tenant: Tenant, other_tenant: Tenant,
) -> None:
    """Past the burst: 429, Retry-After and the Error shape; another account still gets 200."""
    flooding = client_of(tight_app, tenant)
    answers = [flooding.get("/workers/") for _ in range(12)]
    statuses = [r.status_code for r in answers]
    assert statuses[:5] == [200] * 5
    # A slow machine may refill a token or two meanwhile, never more.
    assert statuses.count(429) >= 5
    refused = [r for r in answers if r.status_code == 429][-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    body = refused.json()
    assert body["code"] == "rate_limited" and body["title"] == "Too many requests"
    assert "read" in body["detail"]["description"]
    assert refused.headers["X-Request-ID"]
    other = client_of(tight_app, other_tenant)
    assert [other.get("/workers/").status_code for _ in range(5)] == [200] * 5
    # Writes are another class: the exhausted read bucket does not stop them.
    assert flooding.post("/workers/", json={"worker_handle": "w-limits"}).status_code in (200,
                                                                                           201)
    time.sleep(int(refused.headers["Retry-After"]))
    assert flooding.get("/workers/").status_code == 200


def test_300_wrong_secrets_are_limited_and_the_owner_gets_in_soon_after(
    settings: Settings, tenant: Tenant,
) -> None:
    """Guessing from one address: at most the burst is even checked; the rest are 429 before
    any check; once the flood stops, the right secret works within Retry-After."""
    app = create_app(limited_settings(settings, failures_per_address=RateRule(per_s=1.0,
                                                                              burst=20)),
                     run_worker=False)
    attacker = TestClient(app, raise_server_exceptions=False, client=("10.0.0.66", 40000))
    started = time.monotonic()
    statuses = [attacker.get("/workers/", auth=(tenant.account_id, f"guess-{i}")).status_code
                for i in range(300)]
    checked_at_most = 20 + math.ceil(time.monotonic() - started) + 1  # burst + refills
    assert statuses.count(401) <= checked_at_most
    assert statuses.count(401) + statuses.count(429) == 300
    last = attacker.get("/workers/", auth=(tenant.account_id, tenant.secret_key))
    # Limited: even the right secret is not checked (a guess must not be told apart).
    assert last.status_code == 429
    wait = int(last.headers["Retry-After"])
    assert 1 <= wait <= 2
    time.sleep(wait)
    assert attacker.get("/workers/", auth=(tenant.account_id, tenant.secret_key)
                        ).status_code == 200


def test_account_failures_do_not_lock_out_an_address_that_logged_in_before(
    settings: Settings, tenant: Tenant,
) -> None:
    """Guesses from many addresses exhaust the account's failure bucket; the owner's own
    address, trusted by an earlier login, still gets in; a new address waits."""
    # One token back every 100 s: the 30 guesses exhaust the bucket and it stays empty for
    # the rest of the test however slow the machine (at one every 2 s, a loaded machine
    # refilled a token between the last guess and the stranger, who then got in).
    app = create_app(limited_settings(settings, failures_per_account=RateRule(per_s=0.01,
                                                                              burst=10)),
                     run_worker=False)
    owner = client_of(app, tenant, "10.1.0.1")
    assert owner.get("/workers/").status_code == 200
    for i in range(30):
        guesser = TestClient(app, raise_server_exceptions=False, client=(f"10.2.0.{i}", 1))
        guesser.get("/workers/", auth=(tenant.account_id, "wrong"))
    stranger = client_of(app, tenant, "10.3.0.1")
    assert stranger.get("/workers/").status_code == 429
    assert owner.get("/workers/").status_code == 200


def test_oauth_token_and_ingest_keys_are_limited_too(settings: Settings, tenant: Tenant) -> None:
    """Wrong client secrets on /oauth/token and unknown ingest keys on /osmand are limited
    per address like Basic credentials."""
    app = create_app(limited_settings(settings, failures_per_address=RateRule(per_s=1.0,
                                                                              burst=5)),
                     run_worker=False)
    guesser = TestClient(app, raise_server_exceptions=False, client=("10.4.0.1", 1))
    started = time.monotonic()
    tokens = [guesser.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": f"nope-{i}"}).status_code for i in range(20)]
    assert tokens.count(401) <= 5 + math.ceil(time.monotonic() - started) + 1
    assert tokens.count(429) >= 10 and tokens.count(401) + tokens.count(429) == 20
    keys = TestClient(app, raise_server_exceptions=False, client=("10.4.0.2", 1))
    started = time.monotonic()
    ingest = [keys.get("/osmand", params={"id": f"rkd_guess{i:08d}", "lat": "60.1",
                                          "lon": "24.9"}).status_code for i in range(20)]
    assert ingest.count(401) <= 5 + math.ceil(time.monotonic() - started) + 1
    assert ingest.count(429) >= 10 and ingest.count(401) + ingest.count(429) == 20


@pytest.mark.parametrize(("method", "route", "klass"), [
    ("GET", "/orders/", "read"), ("POST", "/orders/", "plan"), ("POST", "/orders/plans", "plan"),
    ("POST", "/orders/export", "export"), ("PATCH", "/orders/{order_handle}", "write"),
    ("POST", "/devices/{device_id}/locations", "ingest"), ("GET", "/console/devices", "console"),
])
def test_route_classes(method: str, route: str, klass: str) -> None:
    """Each request falls in the class its route and method name."""
    assert route_class(method, route) == klass


def test_bucket_math_matches_a_token_bucket() -> None:
    """A full bucket allows ``burst`` at once, then one per interval; a refusal costs nothing."""
    rule = RateRule(per_s=4.0, burst=3)
    store = MemoryBuckets()
    decisions = [store.hit("k", rule, 100.0) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert math.isclose(decisions[3].retry_after_s, 0.25)
    assert store.hit("k", rule, 100.25).allowed
    assert not store.hit("k", rule, 100.25).allowed
    # After a long pause the bucket is full again, never fuller.
    assert [store.hit("k", rule, 200.0).allowed for _ in range(4)] == [True, True, True, False]
    assert judge(None, rule, 0.0)[0].allowed
