"""The contract's ``Region`` (``{city, state, country}``) from a Nominatim address."""

from __future__ import annotations

from typing import Any

# Nominatim names a settlement by its kind; the first one present is the order's city.
CITY_KEYS = ("city", "town", "village", "municipality", "hamlet")
# Likewise for the first-level subdivision (Finland's regions come as ``state`` or ``region``).
STATE_KEYS = ("state", "region", "province", "state_district")


def _first(address: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = address.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def region_from_address(address: Any) -> dict[str, str | None] | None:
    """``{"city", "state", "country"}`` from Nominatim's ``address`` block (a part the
    geocoder does not know is null).

    None without a country: the contract requires one in a Region.
    """
    if not isinstance(address, dict):
        return None
    country = address.get("country")
    if not isinstance(country, str) or not country:
        return None
    return {"city": _first(address, CITY_KEYS), "state": _first(address, STATE_KEYS),
            "country": country}
