"""Render a wire dict as JSON directly, for answers too large to validate on the way out.

FastAPI validates a returned dict against the endpoint's ``response_model`` and serialises it
through pydantic; for a page of 50 plans with every route and order (about 2 MB) that costs
more than building it. Endpoints whose wire dicts are built by the pure ``*_wire`` functions
(which the response models describe) return :func:`json_response` instead: instants are
rendered as the wire wants them (``core.timefmt.format_ts``), everything else as JSON.

The encoder is orjson (a page of plans: about 15 ms instead of 60 ms with ``json``); its
output is the same JSON text as ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``
for the values wire dicts hold, except that a float NaN or infinity becomes ``null`` instead
of an error.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson
from starlette.responses import Response

from routekeeper.core.timefmt import format_ts

# Datetimes (and dates) go through ``_default``: orjson's own format has no milliseconds.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON, datetimes as ``YYYY-MM-DDTHH:MM:SS.sssZ``."""
    return orjson.dumps(data, default=_default, option=_OPTIONS)


def json_response(data: Any, status_code: int = 200) -> Response:
    """A JSON response of ``data`` (see :func:`dumps`)."""
    return Response(dumps(data), status_code=status_code, media_type="application/json")
