"""Target safety: which addresses are refused, URL forms, and checks of every address."""

from __future__ import annotations

import ipaddress

import pytest

from routekeeper.webhooks import safety
from routekeeper.webhooks.safety import (
    UnsafeTarget,
    checked_addresses,
    forbidden_reason,
    parse_target,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
        ("10.1.2.3", "private"), ("172.31.255.255", "private"), ("192.168.0.10", "private"),
        ("fd00::1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
        ("::", "unspecified"), ("::ffff:10.0.0.1", "private"), ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"), ("100.64.0.1", "non-public"),
        ("93.184.216.34", None), ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    """Non-public addresses (also IPv4 embedded in IPv6) are named; public ones pass."""
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_parse_target_defaults_ports_and_lowercases() -> None:
    """The port defaults by scheme and the host is compared in lower case."""
    target = parse_target("HTTPS://Hooks.Example.COM/path?q=1")
    assert (target.host, target.port, target.is_ip_literal) == ("hooks.example.com", 443, False)
    assert parse_target("http://[::1]:8080/").is_ip_literal
    assert parse_target("http://example.com").port == 80


@pytest.mark.parametrize(
    "url", ["mailto:a@example.com", "//example.com/x", "https://", "https://a_b.example.com/"]
)
def test_parse_target_rejects(url: str) -> None:
    """Other schemes, missing hosts and malformed names are refused."""
    with pytest.raises(ValueError):
        parse_target(url)


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """One private address among public ones is enough to refuse the target."""
    monkeypatch.setattr(safety, "_getaddrinfo", lambda host, port: [
        (10, 1, 6, "", ("2606:2800:220:1::1", port, 0, 0)),
        (2, 1, 6, "", ("192.168.1.20", port)),
    ])
    target = parse_target("https://example.test/")
    with pytest.raises(UnsafeTarget, match=r"192\.168\.1\.20, a private address"):
        checked_addresses(target, allow_private=False)
    assert [str(a) for a in checked_addresses(target, allow_private=True)] == [
        "2606:2800:220:1::1", "192.168.1.20",
    ]


def test_repeated_answers_are_kept_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address listed twice by the resolver is tried once."""
    monkeypatch.setattr(safety, "_getaddrinfo", lambda host, port: [
        (2, 1, 6, "", ("93.184.216.34", port)), (2, 1, 6, "", ("93.184.216.34", port)),
    ])
    assert len(checked_addresses(parse_target("https://example.test/"), allow_private=False)) == 1
