"""Wire formats for time: ISO-8601 UTC with milliseconds and ``Z`` out, any offset in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema


def format_ts(value: datetime | None) -> str | None:
    """Render an aware datetime as ``2023-10-31T04:00:00.000Z``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_ts(value: Any) -> datetime:
    """Parse an ISO-8601 timestamp; an offset is honoured and a missing one means UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) < 10 or not text[:4].isdigit():
            raise ValueError("Not a valid datetime.")
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError as exc:
            raise ValueError("Not a valid datetime.") from exc
    else:
        raise ValueError("Not a valid datetime.")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_query_time(value: str) -> datetime:
    """Parse a query window bound: ``YYYY-MM-DD HH:mm:ss`` (UTC) or a full ISO-8601 string."""
    text = value.strip()
    try:
        if len(text) == 19 and text[10] == " ":
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return parse_ts(text)
    except ValueError as exc:
        raise ValueError("Not a valid datetime; expected YYYY-MM-DD HH:mm:ss.") from exc


def parse_query_date(value: str) -> date:
    """Parse a ``YYYY-MM-DD`` query date."""
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("Not a valid date; expected YYYY-MM-DD.") from exc


ApiDatetime = Annotated[
    datetime,
    BeforeValidator(parse_ts),
    PlainSerializer(format_ts, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
