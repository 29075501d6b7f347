"""Field types for API inputs that every database and the JSON encoder can store.

Python's JSON parser accepts ``NaN``, ``\\u0000`` and lone surrogates; PostgreSQL refuses
all three and the response encoder refuses the first, so they are rejected at the edge as
422s naming the field instead of failing later as 500s.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

MAX_JSON_DEPTH = 32
# Free-form JSON (metadata) is stored per row and sent back in every list: a field holds at
# most this much, as compact JSON, so a page of 1,000 rows stays within tens of megabytes.
MAX_JSON_BYTES = 16 * 1024
# What all of one order's metadata may add up to after merges (complete, cancel, events).
MAX_ORDER_METADATA_BYTES = 16 * 1024


def json_size(value: Any) -> int:
    """The size of ``value`` as compact UTF-8 JSON (what a response carries)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode("utf-8", "surrogatepass"))


def check_json_size(value: Any, limit: int = MAX_JSON_BYTES) -> Any:
    """Refuse free-form JSON larger than ``limit`` bytes."""
    if value is not None and json_size(value) > limit:
        raise ValueError(f"Must be at most {limit} bytes as JSON.")
    return value


def check_text(value: str) -> str:
    """Refuse NUL characters and unpaired surrogates, which cannot be stored."""
    if "\x00" in value:
        raise ValueError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("Must be valid Unicode text.") from exc
    return value


def check_handle(value: str) -> str:
    """A handle is addressable in a URL path: no control characters, not ``.`` or ``..``."""
    check_text(value)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("Must not contain control characters.")
    if value in (".", ".."):
        raise ValueError("Must not be '.' or '..'.")
    return value


def check_json(value: Any) -> Any:
    """Refuse non-finite numbers, unstorable text and nesting deeper than MAX_JSON_DEPTH."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"Must not be nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("Numbers must be finite (no NaN or Infinity).")
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(str(key))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return value


Text = Annotated[str, AfterValidator(check_text)]
Handle = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^/\s?#]+$"),
    AfterValidator(check_handle),
]
JsonObject = Annotated[
    dict[str, Any], AfterValidator(check_json), AfterValidator(check_json_size),
    Field(description=f"Free-form JSON object, at most {MAX_JSON_BYTES} bytes."),
]
