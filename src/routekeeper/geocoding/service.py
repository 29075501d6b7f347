"""Geocoding for the domains: many addresses or points at once, concurrently and cached.

A batch is looked up in the account's cache first; what is missing goes to the geocoder,
at most ``concurrency`` requests in flight, and the answers are added to the cache in the
caller's transaction (so a refused batch caches nothing either).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import ApiError, HttpError, invalid_field
from routekeeper.geocoding import repository
from routekeeper.geocoding.nominatim import (
    AddressQuery,
    Found,
    GeocoderUnavailable,
    NominatimClient,
)
from routekeeper.settings import GeocodingSettings

Region = dict[str, str | None]
NO_GEOCODER = ("no geocoder is configured on this server (set ROUTEKEEPER_GEOCODING__URL "
               "to a Nominatim instance; see the README)")
# Four decimals of a degree are about 11 m: points that close share a cached region.
REGION_DECIMALS = 4


def _key(kind: str, language: str, query: Any) -> str:
    text = json.dumps([kind, language, query], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _normal(text: str) -> str:
    # Case and spacing (also around commas) do not change what an address means.
    return re.sub(r"\s*,\s*", ", ", re.sub(r"\s+", " ", text)).strip().casefold()


def unavailable(exc: GeocoderUnavailable, retry_after_s: int) -> HttpError:
    """The 503 answered when the geocoder cannot be reached (nothing was stored)."""
    return HttpError(
        503, "Geocoder unavailable",
        {"description": f"{exc} Nothing was stored; retry later."},
        headers={"Retry-After": str(retry_after_s)},
    )


def not_configured(location: str, field: str, what: str) -> ApiError:
    """The 422 answered when a request needs a geocoder and none is configured."""
    return invalid_field(location, field, f"{what} needs a geocoder, but {NO_GEOCODER}.")


def require_for_region_filter(geocoder: Geocoder | None, location: str) -> None:
    """Refuse a ``region_filter`` without a geocoder: regions would all be null, and an
    empty list would look like an answer."""
    if geocoder is None:
        raise invalid_field(location, "region_filter",
                            f"region_filter needs order regions, which need a geocoder, but "
                            f"{NO_GEOCODER}.")


class Geocoder:
    """One configured geocoder, its thread pool and its cache."""

    def __init__(self, settings: GeocodingSettings) -> None:
        if not settings.url:
            raise ValueError("a geocoder needs ROUTEKEEPER_GEOCODING__URL")
        self.settings = settings
        self.client = NominatimClient(settings.url, timeout_s=settings.timeout_s,
                                      accept_language=settings.accept_language)
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.concurrency),
                                        thread_name_prefix="geocoder")

    def close(self) -> None:
        """Stop the threads and close the connections."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def _fresh_after(self) -> Any:
        return utcnow() - timedelta(seconds=self.settings.cache_ttl_s)

    def geocode(
        self, session: Session, account_id: str, queries: Sequence[AddressQuery]
    ) -> list[Found | None]:
        """The point of each address (None: the geocoder found nothing).

        Raises :class:`GeocoderUnavailable` as soon as one request fails: a batch is
        geocoded whole or not at all.
        """
        language = self.settings.accept_language
        keys = [_key("search", language, {k: _normal(v) for k, v in q.params().items()})
                for q in queries]
        hits = repository.cached(session, account_id, keys, fresh_after=self._fresh_after())
        todo: dict[str, AddressQuery] = {}
        for key, query in zip(keys, queries, strict=True):
            if key not in hits:
                todo.setdefault(key, query)
        futures = {key: self._pool.submit(self.client.search, query)
                   for key, query in todo.items()}
        done, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                for other in pending:
                    other.cancel()
                raise future.exception()  # type: ignore[misc]
        answers: dict[str, Found | None] = {key: f.result() for key, f in futures.items()}
        repository.store(session, account_id, [
            (key, "search", todo[key].text, found.as_json())
            for key, found in answers.items() if found is not None
        ], now=utcnow())
        return [Found.from_json(hits[key]) if key in hits else answers[key] for key in keys]

    def regions(
        self, session: Session, account_id: str, points: Sequence[tuple[float, float]],
        *, wait_s: float | None,
    ) -> list[Region | None]:
        """The region of each ``(lon, lat)``, waiting at most ``wait_s`` (None: until done).

        ``{}``: the geocoder knows no region there. None: the answer did not come in time,
        or the request failed; the caller leaves that region to the background job.
        """
        language = self.settings.accept_language
        rounded = [(round(lon, REGION_DECIMALS), round(lat, REGION_DECIMALS))
                   for lon, lat in points]
        keys = [_key("reverse", language, list(p)) for p in rounded]
        hits = repository.cached(session, account_id, keys, fresh_after=self._fresh_after())
        todo = {key: point for key, point in zip(keys, rounded, strict=True) if key not in hits}
        futures: dict[str, Future[Region | None]] = {
            key: self._pool.submit(self.client.reverse, lon, lat)
            for key, (lon, lat) in todo.items()
        }
        wait(futures.values(), timeout=wait_s)
        answers: dict[str, Region | None] = {}
        for key, future in futures.items():
            if not future.done():
                future.cancel()
                continue
            try:
                answers[key] = future.result() or {}
            except GeocoderUnavailable:
                continue
        repository.store(session, account_id, [
            (key, "reverse", f"{todo[key][0]},{todo[key][1]}", {"region": region})
            for key, region in answers.items()
        ], now=utcnow())
        return [(hits[key].get("region") or {}) if key in hits else answers.get(key)
                for key in keys]


def geocoder_from_settings(settings: GeocodingSettings) -> Geocoder | None:
    """The configured geocoder, or None when no URL is set."""
    return Geocoder(settings) if settings.url else None
