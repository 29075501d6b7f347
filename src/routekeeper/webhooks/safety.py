"""Keep webhooks out of our own network: no loopback, link-local, private, multicast or
unspecified targets (unless ``webhooks.allow_private_targets``).

A name is resolved again at every delivery and every address it resolves to is checked, and
the request then connects to a checked address, so a name that changes its answer between
the check and the connection (DNS rebinding) cannot reach an internal service.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                       r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(Exception):
    """A target URL we refuse to send to; the message says why."""


def _getaddrinfo(host: str, port: int) -> list[Any]:
    # A seam for tests, which simulate DNS answers (rebinding) without a DNS server.
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL."""

    url: httpx.URL
    host: str
    port: int

    @property
    def is_ip_literal(self) -> bool:
        """Whether the URL names an address rather than a host name."""
        return _literal(self.host) is not None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def parse_target(url: str) -> Target:
    """Parse and check the form of a webhook URL; ValueError says what is wrong."""
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        # httpx percent-encodes a raw space: the URL delivered would not be the one given.
        raise ValueError("The URL must not contain spaces or control characters; "
                         "percent-encode them.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError("Not a valid URL.") from exc
    if parsed.scheme not in ("http", "https"):
        raise ValueError("The URL must start with http:// or https://.")
    if parsed.userinfo:
        raise ValueError("Credentials in the URL are not supported; verify the signature "
                         "headers instead.")
    host = parsed.raw_host.decode("ascii", "replace").lower()
    if not host:
        raise ValueError("The URL has no host.")
    if _literal(host) is None and not _HOSTNAME.match(host):
        raise ValueError("The URL's host is not a valid host name or IP address.")
    default = 443 if parsed.scheme == "https" else 80
    port = parsed.port if parsed.port is not None else default
    if not 0 < port < 65536:
        raise ValueError("The URL's port must be between 1 and 65535.")
    return Target(url=parsed, host=host, port=port)


def forbidden_reason(address: IPAddress) -> str | None:
    """Why an address is not a public one (``"loopback"``, ``"private"``...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 addresses embedded in IPv6 reach the IPv4 host they embed.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            if reason is not None:
                return reason
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def resolve(target: Target) -> list[IPAddress]:
    """Every address the target's host resolves to, in resolver order, without repeats."""
    literal = _literal(target.host)
    if literal is not None:
        return [literal]
    try:
        answers = _getaddrinfo(target.host, target.port)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"The host {target.host} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        # Strip an IPv6 zone ("fe80::1%eth0"); the address alone decides.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTarget(f"The host {target.host} does not resolve.")
    return addresses


def checked_addresses(target: Target, *, allow_private: bool) -> list[IPAddress]:
    """Resolve the target and refuse it when any of its addresses is not public."""
    if not allow_private and (target.host == "localhost" or target.host.endswith(".localhost")):
        raise UnsafeTarget(f"The host {target.host} is a loopback name.")
    addresses = resolve(target)
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise UnsafeTarget(
                    f"The host {target.host} resolves to {address}, a {reason} address; "
                    "webhooks are only sent to public addresses."
                )
    return addresses
