"""Opaque keyset pagination tokens, signed and bound to the filters they were made with."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import invalid_field
from routekeeper.core.signing_keys import SigningKeys, mac

_Row = TypeVar("_Row")

_INVALID = "Not a valid pagination token for this request."


def _filters_digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _mac(secret: str, body: bytes) -> bytes:
    return mac(secret, body)[:12]


def page_keys(keys: SigningKeys, resource: str, account_id: str) -> SigningKeys:
    """The keys of one list's tokens: a token made on one resource or for one account is
    refused by every other list (it would resume at a position of another ordering)."""
    return keys.derive(f"pagination\x1f{resource}\x1f{account_id}")


def encode_token(secret: SigningKeys, key: list[Any], filters: dict[str, Any]) -> str:
    """Make a token that resumes after ``key`` for exactly these ``filters``."""
    body = json.dumps({"k": key, "f": _filters_digest(filters)}, separators=(",", ":"))
    signature = _mac(secret.current, body.encode())
    return base64.urlsafe_b64encode(signature + body.encode()).decode().rstrip("=")


def decode_token(secret: SigningKeys, token: str, filters: dict[str, Any]) -> list[Any]:
    """Return the keyset position of a token; a forged token or other filters is a 422."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        signature, body = raw[:12], raw[12:]
        if not secret.verifies(signature, lambda key: _mac(key, body), now=utcnow()):
            raise ValueError("bad signature")
        data = json.loads(body)
        key = data["k"]
        if not isinstance(key, list):
            raise ValueError("bad key")
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_field("query", "pagination_token", _INVALID) from exc
    if data.get("f") != _filters_digest(filters):
        raise invalid_field(
            "query", "pagination_token", "The pagination token was made with other filters."
        )
    return key


def time_position(secret: SigningKeys, token: str | None,
                  filters: dict[str, Any]) -> tuple[datetime, str] | None:
    """The ``(time, id)`` position a keyset token resumes after (None without a token); a
    token whose position is not an aware time and an id is a 422."""
    if not token:
        return None
    key = decode_token(secret, token, filters)
    try:
        stamp = datetime.fromisoformat(str(key[0]))
        if stamp.tzinfo is None:
            raise ValueError("naive position")
        return stamp, str(key[1])
    except (ValueError, IndexError) as exc:
        raise invalid_field("query", "pagination_token", "Not a valid pagination token.") \
            from exc


def cut_page(rows: list[_Row], limit: int, secret: SigningKeys, filters: dict[str, Any],
             key: Callable[[_Row], list[Any]]) -> tuple[list[_Row], str | None]:
    """The first ``limit`` of ``rows`` (read with one extra) and the token of the next page,
    resuming after the last row's ``key`` (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_token(secret, key(page[-1]), filters)


def key_beyond(
    key: Sequence[Any], position: Sequence[Any], types: Sequence[Any], *, descending: bool,
    inclusive: bool = False,
) -> ColumnElement[bool]:
    """``key`` past ``position`` in the walking direction (``inclusive``: or equal), as one
    row-value comparison, the values bound with ``types``."""
    columns = tuple_(*key)
    bound = tuple_(*(literal(v, t) for v, t in zip(position, types, strict=True)))
    if descending:
        return columns <= bound if inclusive else columns < bound
    return columns >= bound if inclusive else columns > bound


def keyset_page(
    session: Session,
    query: Select[_Row],
    key: tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]],
    *,
    descending: bool,
    after: tuple[Any, Any] | None,
    limit: int,
) -> list[_Row]:
    """One page of ``query`` ordered by ``key`` (a time, then a unique tie-break), after the
    position ``after`` (the last row's key of the page before).

    The position is a row-value comparison, ``(created_at, id) < (:c, :i)``: PostgreSQL and
    SQLite both turn it into one range of the ``(account_id, created_at, ...)`` index, so a
    page starts at its key instead of filtering out the rows of every page before it, which
    the equivalent ``a < x OR (a = x AND b < y)`` form does (docs/benchmarks/plans.md).
    """
    if after is not None:
        # Bound with the columns' own types (UTCDateTime keeps naive UTC text on SQLite).
        query = query.where(key_beyond(key, after, [c.type for c in key],
                                       descending=descending))
    order = [column.desc() if descending else column.asc() for column in key]
    return list(session.scalars(query.order_by(*order).limit(limit)))
