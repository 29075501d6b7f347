"""Validation shared by the query-string filter models of the list endpoints.

Every check raises ValueError, so pydantic turns a bad value into a 422 that names its own
query parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Set
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from routekeeper.core.fields import check_json, check_text
from routekeeper.core.timefmt import parse_query_date, parse_query_time


def checked(parse: Callable[[str], Any]) -> Callable[[str | None], str | None]:
    """A validator that refuses a value ``parse`` cannot read but keeps the raw text."""

    def check(value: str | None) -> str | None:
        if value is not None:
            parse(check_text(value))
        return value

    return check


QueryDate = Annotated[str | None, AfterValidator(checked(parse_query_date))]
QueryInstant = Annotated[str | None, AfterValidator(checked(parse_query_time))]


def status_list(value: str | None, allowed: Set[str]) -> str | None:
    """A comma-separated status filter, normalised to ``a,b`` (blank items dropped)."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in parts if p not in allowed]
    if unknown or not parts:
        choices = ", ".join(sorted(allowed))
        raise ValueError(f"Unknown status {', '.join(unknown) or value!r}; use: {choices}.")
    return ",".join(parts)


def one_of(value: str | None, allowed: Set[str]) -> str | None:
    """Refuse a value outside ``allowed``."""
    if value is not None and value not in allowed:
        raise ValueError(f"Must be one of: {', '.join(sorted(allowed))}.")
    return value


def json_object_filter(value: str) -> dict[str, Any]:
    """Parse a URL-encoded JSON object filter: non-empty, flat and storable."""
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValueError("Must be a JSON object, URL-encoded.") from exc
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError("Must be a non-empty JSON object.")
    # json_match compares scalars: its SQLite form cannot match a nested value or null.
    if any(isinstance(v, (dict, list)) or v is None for v in parsed.values()):
        raise ValueError("Values must be strings, numbers or booleans.")
    check_json(parsed)
    return parsed


REGION_KEYS = frozenset({"city", "state", "country"})


def region_filter(value: str | None) -> str | None:
    """Check a ``region_filter``: a JSON object of ``city``/``state``/``country`` strings."""
    if value is None:
        return None
    parsed = json_object_filter(value)
    if set(parsed) - REGION_KEYS or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError("Keys must be city, state or country, with string values.")
    return value


class QueryFilters(BaseModel):
    """Base of a paginated list endpoint's filters: unknown parameters refused, text storable.

    Subclasses declare ``limit`` and ``pagination_token``.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # A NUL in a bound parameter is a database error on PostgreSQL, not an empty match.
        return check_text(value) if isinstance(value, str) else value

    # Typed accessors, since the time filters are generated fields.
    def text(self, name: str) -> str | None:
        """The raw value of a filter, or None when absent."""
        value = getattr(self, name, None)
        return None if value is None else str(value)

    def day(self, name: str) -> date | None:
        """A ``YYYY-MM-DD`` filter as a date."""
        value = self.text(name)
        return None if value is None else parse_query_date(value)

    def instant(self, name: str) -> datetime | None:
        """A UTC window filter as an aware datetime."""
        value = self.text(name)
        return None if value is None else parse_query_time(value)

    def fingerprint(self) -> dict[str, Any]:
        """The filter values a pagination token is bound to."""
        return self.model_dump(
            mode="json", exclude_none=True, exclude={"limit", "pagination_token"}
        )
