"""The base URL of links handed out (``share_url``, ``embed_url``, export links).

Resolution, first match wins:

1. ``ROUTEKEEPER_PUBLIC_URL`` when set: the operator knows best (a proxy, a domain).
2. During a request that came through a *trusted* proxy (``ROUTEKEEPER_API__TRUSTED_PROXIES``,
   IP addresses or networks) with ``X-Forwarded-Host`` / ``-Proto`` / ``-Port`` /
   ``-Prefix``: the URL the client used at the proxy. The headers of anyone else are
   ignored, since a forged Host would otherwise plant foreign links in webhooks and mail.
3. The address ``routekeeper serve`` actually bound (its port too, when asked for port 0).

``core.forwarded.ForwardedBase`` is the ASGI middleware that does step 2 for each request
(kept apart, so settings and the pure packages importing them import no web code).
"""

from __future__ import annotations

import ipaddress
import socket
from contextvars import ContextVar

forwarded: ContextVar[str | None] = ContextVar("routekeeper_forwarded_base", default=None)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_base() -> str | None:
    """The base URL the current request's trusted proxy reported, if any."""
    return forwarded.get()


def parse_trusted(value: str) -> list[Network]:
    """``"10.0.0.1, 192.168.0.0/16"`` as networks; ``ValueError`` on anything else."""
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in value.split(",") if part.strip()]


def is_trusted(host: str | None, trusted: list[Network]) -> bool:
    """Whether a peer address lies in one of the trusted networks."""
    if not host or not trusted:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def _first(headers: dict[str, str], name: str) -> str | None:
    # A chain of proxies appends: the first value is what the client sent the outermost one.
    value = headers.get(name)
    if value is None:
        return None
    first = value.split(",")[0].strip()
    return first or None


def base_from_headers(headers: dict[str, str]) -> str | None:
    """The client-facing base URL from ``X-Forwarded-*`` headers (lower-case names), or None
    when the proxy sent no host."""
    host = _first(headers, "x-forwarded-host")
    if host is None or any(c in host for c in "/\\@ ?#"):
        return None
    proto = (_first(headers, "x-forwarded-proto") or "http").lower()
    if proto not in ("http", "https"):
        proto = "http"
    port = _first(headers, "x-forwarded-port")
    default_port = {"http": "80", "https": "443"}[proto]
    if port and port.isdigit() and port != default_port and ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{port}"
    prefix = (_first(headers, "x-forwarded-prefix") or "").strip("/")
    return f"{proto}://{host}" + (f"/{prefix}" if prefix else "")


def bound_url(host: str, port: int) -> str:
    """The URL of a listening address; a wildcard bind is named by this machine's name."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn() or "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
