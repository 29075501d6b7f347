"""``evolve``: ``dataclasses.replace`` for the engine's frozen, slotted state, at a fraction of
the cost.

A fix makes dozens of changed copies of order tracks, visits and risks. ``replace`` looks up
the class's fields and runs its ``__init__`` for each of them: it was two fifths of the
pipeline's time (docs/benchmarks/ingest.md). The engine's classes have no ``__post_init__``
and no fields left out of ``__init__``, so copying the slots and setting the changes is the
same thing; a class that has either gets ``replace`` itself.

The copy is made by a function written for each class when it is first evolved (as
``dataclasses`` writes ``__init__``): one keyword parameter a field, each slot set once, with
no loop over the fields and no ``getattr``. Copying in a loop was still 6 % of the tracking
processor in a py-spy profile of 2,000 phones (the ETA step copies every open order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from types import MemberDescriptorType
from typing import Any, TypeVar

T = TypeVar("T")

# Per class: the function that makes its copies.
_COPIERS: dict[type[Any], Callable[..., Any]] = {}
# The names the written functions use themselves: a field called so gets replace().
_RESERVED = frozenset({"obj", "new", "_new", "_KEEP", "cls"})


class _Keep:
    """The default of a written copier's parameters: keep the field's value."""


_KEEP = _Keep()


def _slot(cls: type[Any], name: str) -> MemberDescriptorType | None:
    """The member descriptor of a field's slot; None when the field is not a slot."""
    for owner in cls.__mro__:
        if name in vars(owner):
            found = vars(owner)[name]
            return found if isinstance(found, MemberDescriptorType) else None
    return None


def _copier(cls: type[Any]) -> Callable[..., Any]:
    """The copier of ``cls``: written for plain slotted classes, ``replace`` for the others."""
    names = [f.name for f in fields(cls)]
    slots = [_slot(cls, name) for name in names]
    plain = (not hasattr(cls, "__post_init__") and all(f.init for f in fields(cls))
             and not _RESERVED.intersection(names)
             and all(name.isidentifier() and not name.startswith("_set_") for name in names))
    setters = [slot.__set__ for slot in slots if slot is not None]
    if not plain or len(setters) != len(names):
        return replace
    parameters = ", ".join(f"{name}=_KEEP" for name in names)
    lines = [f"def copy(obj, /, *, {parameters}):", "    new = _new(cls)"]
    # Each slot's own setter, bound once: setting through object.__setattr__ looks the
    # slot up on the class every time.
    lines += [f"    _set_{index}(new, obj.{name} if {name} is _KEEP else {name})"
              for index, name in enumerate(names)]
    lines.append("    return new")
    namespace: dict[str, Any] = {"_new": object.__new__, "_KEEP": _KEEP, "cls": cls}
    for index, setter in enumerate(setters):
        namespace[f"_set_{index}"] = setter
    # The source is made of the class's field names only (checked to be identifiers above).
    exec("\n".join(lines), namespace)
    copy: Callable[..., Any] = namespace["copy"]
    return copy


def evolve(obj: T, **changes: Any) -> T:
    """A copy of the frozen dataclass ``obj`` with ``changes`` (an unknown name raises)."""
    cls = type(obj)
    copier = _COPIERS.get(cls)
    if copier is None:
        copier = _COPIERS[cls] = _copier(cls)
    try:
        new: T = copier(obj, **changes)
    except TypeError:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = [name for name in changes if name not in known]
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {unknown[0]!r}") from None
        raise
    return new
