"""One (de)serialiser for the tracking state: its frozen dataclasses to JSON-safe dicts and
back, by their type hints (pydantic), instead of a hand-written pair of methods per class.

Field names are the keys; datetimes are ISO-8601 text with their offset; tuples are lists;
enums are their values. A type whose stored form is not its fields says so with an
``Annotated`` alias (``geofence.StoredGeofence``, ``risks.StoredRisk``). Loading accepts what
earlier versions stored (the same keys; a datetime with ``+00:00`` or ``Z``) and fills
missing fields with their defaults; anything else is a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


# One adapter a class, built on first use (building one walks every nested type).
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def dump(value: object) -> dict[str, Any]:
    """``value`` (a dataclass of the state) as a JSON-safe dict."""
    data: dict[str, Any] = _adapter(type(value)).dump_python(value, mode="json")
    return data


def load(cls: type[T], data: Mapping[str, Any]) -> T:
    """A ``cls`` rebuilt from :func:`dump` output (``ValueError`` when it does not fit)."""
    value: T = _adapter(cls).validate_python(data)
    return value
