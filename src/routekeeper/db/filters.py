"""SQL building blocks shared by the domains' listing filters (dialect-aware, no domain)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement


def json_match(column: Any, dialect: str, key: str, value: Any) -> ColumnElement[bool]:
    """``column[key] == value`` with JSON types compared exactly (5 is not "5").

    Never casts the stored value, so a row holding another type under the same key simply
    does not match (a cast would fail the whole query on PostgreSQL).
    """
    if dialect == "postgresql":
        return type_coerce(column, JSONB).contains({key: value})
    # json_each avoids building a JSON path from the key (quotes and dots stay literal).
    entry = func.json_each(column).table_valued("key", "value", "type").alias("m")
    kinds: tuple[str, ...]
    compared: Any
    if isinstance(value, bool):
        kinds, compared = ("true" if value else "false",), None
    elif isinstance(value, (int, float)):
        kinds, compared = ("integer", "real"), value
    else:
        kinds, compared = ("text",), str(value)
    match = and_(entry.c.key == key, entry.c.type.in_(kinds))
    if compared is not None:
        match = and_(match, entry.c.value == compared)
    return exists(select(literal(1)).select_from(entry).where(match))


def text_search(term: str, columns: list[Any], metadata: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match on ``columns`` and a JSON ``metadata`` column, with
    wildcards taken literally."""
    # SQLite keeps JSON text ASCII-escaped (\u00e9), so match that spelling as well.
    escaped = json.dumps(term)[1:-1]
    metadata_text = cast(metadata, String)
    clauses = [column.icontains(term, autoescape=True) for column in columns]
    clauses.append(metadata_text.icontains(term, autoescape=True))
    if escaped != term:
        clauses.append(metadata_text.icontains(escaped, autoescape=True))
    return or_(*clauses)
