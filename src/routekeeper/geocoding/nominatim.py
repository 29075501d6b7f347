"""A small client of Nominatim's HTTP API (``/search`` and ``/reverse``, ``format=jsonv2``).

It knows nothing of accounts or caches: it turns one query into one answer, or raises
:class:`GeocoderUnavailable` when the server cannot be reached or answers with an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from routekeeper import __version__
from routekeeper.geocoding.regions import region_from_address

# City-level detail is enough for a region and keeps reverse lookups cheap.
REGION_ZOOM = 10
USER_AGENT = f"routekeeper/{__version__}"


class GeocoderUnavailable(RuntimeError):
    """The geocoder could not answer (down, timing out, or answering with an error)."""


@dataclass(frozen=True)
class AddressQuery:
    """What to look up: a free-form address and, when known, its structured parts."""

    text: str
    street: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postal_code: str | None = None

    @property
    def structured(self) -> bool:
        """Whether structured fields are given (Nominatim then takes them instead of ``q``)."""
        return any((self.street, self.city, self.state, self.country, self.postal_code))

    def params(self) -> dict[str, str]:
        """The query parameters of ``/search`` for this address."""
        if not self.structured:
            return {"q": self.text}
        pairs = {"street": self.street, "city": self.city, "state": self.state,
                 "country": self.country, "postalcode": self.postal_code}
        return {k: v for k, v in pairs.items() if v}


@dataclass(frozen=True)
class Found:
    """A geocoded address: the point found, its region and how Nominatim names it."""

    lon: float
    lat: float
    display_name: str
    region: dict[str, str | None] | None

    def as_json(self) -> dict[str, Any]:
        """The form kept in the cache."""
        return {"lon": self.lon, "lat": self.lat, "display_name": self.display_name,
                "region": self.region}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Found:
        """Read the cached form back."""
        return cls(lon=float(data["lon"]), lat=float(data["lat"]),
                   display_name=str(data.get("display_name") or ""), region=data.get("region"))


class NominatimClient:
    """Blocking, thread-safe access to one Nominatim server."""

    def __init__(self, url: str, *, timeout_s: float, accept_language: str) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout_s, headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._language = accept_language

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def _get(self, path: str, params: dict[str, str]) -> Any:
        query = {"format": "jsonv2", "addressdetails": "1",
                 "accept-language": self._language, **params}
        try:
            response = self._client.get(f"{self.url}{path}", params=query)
        except httpx.HTTPError as exc:
            raise GeocoderUnavailable(
                f"The geocoder at {self.url} did not answer: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise GeocoderUnavailable(
                f"The geocoder at {self.url} answered HTTP {response.status_code}."
            )
        try:
            return response.json()
        except ValueError as exc:
            raise GeocoderUnavailable(
                f"The geocoder at {self.url} answered something that is not JSON."
            ) from exc

    def search(self, query: AddressQuery) -> Found | None:
        """The best match of an address, or None when nothing matches."""
        answer = self._get("/search", {**query.params(), "limit": "1"})
        if not isinstance(answer, list) or not answer:
            return None
        best = answer[0]
        try:
            lon, lat = float(best["lon"]), float(best["lat"])
        except (KeyError, TypeError, ValueError):
            return None
        return Found(lon=lon, lat=lat, display_name=str(best.get("display_name") or ""),
                     region=region_from_address(best.get("address")))

    def reverse(self, lon: float, lat: float) -> dict[str, str | None] | None:
        """The region around a point, or None when the geocoder knows none there."""
        answer = self._get("/reverse", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}",
                                        "zoom": str(REGION_ZOOM)})
        if not isinstance(answer, dict) or "error" in answer:
            return None
        return region_from_address(answer.get("address"))

    def status(self) -> bool:
        """Whether the server answers its status endpoint with OK."""
        try:
            response = self._client.get(f"{self.url}/status", params={"format": "json"})
            return response.status_code == 200 and response.json().get("status") == 0
        except (httpx.HTTPError, ValueError):
            return False
