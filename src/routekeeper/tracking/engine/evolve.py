"""``evolve``: ``dataclasses.replace`` for the engine's frozen, slotted state, at a third of
the cost.

A fix makes dozens of changed copies of order tracks, visits and risks. ``replace`` looks up
the class's fields and runs its ``__init__`` for each of them: it was two fifths of the
pipeline's time (docs/benchmarks/ingest.md). The engine's classes have no ``__post_init__``
and no fields left out of ``__init__``, so copying the slots and setting the changes is the
same thing; a class that has either gets ``replace`` itself.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

T = TypeVar("T")

# Per class: its field names, or None when it must go through replace().
_FIELDS: dict[type[Any], tuple[str, ...] | None] = {}
_set = object.__setattr__


def _names(cls: type[Any]) -> tuple[str, ...] | None:
    if cls not in _FIELDS:
        plain = (not hasattr(cls, "__post_init__") and hasattr(cls, "__slots__")
                 and all(f.init for f in fields(cls)))
        _FIELDS[cls] = tuple(f.name for f in fields(cls)) if plain else None
    return _FIELDS[cls]


def evolve(obj: T, **changes: Any) -> T:
    """A copy of the frozen dataclass ``obj`` with ``changes`` (an unknown name raises)."""
    cls = type(obj)
    names = _names(cls)
    if names is None:
        return replace(obj, **changes)  # type: ignore[type-var]
    new: T = object.__new__(cls)
    for name in names:
        _set(new, name, getattr(obj, name))
    for name, value in changes.items():
        if name not in names:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        _set(new, name, value)
    return new
