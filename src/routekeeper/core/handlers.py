"""Render every error in the contract's shapes; nothing leaks a stack trace or a 500 body."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from routekeeper.core.bodies import UNPARSEABLE_BODY
from routekeeper.core.errors import SCHEMA_KEY, ApiError, put_error

log = logging.getLogger(__name__)

_LOCATIONS = {"body": "json", "query": "query", "path": "path", "header": "headers",
              "cookie": "cookies"}
_MISSING = object()


# marshmallow's standard wording for pydantic's error types (contract 1.2: HyperTrack's
# backend is APIFlask, so its clients see and sometimes match these sentences).
_FIXED = {
    "missing": "Missing data for required field.",
    "extra_forbidden": "Unknown field.",
    "int_parsing": "Not a valid integer.", "int_type": "Not a valid integer.",
    "int_from_float": "Not a valid integer.",
    "float_parsing": "Not a valid number.", "float_type": "Not a valid number.",
    "finite_number": "Not a valid number.",
    "bool_parsing": "Not a valid boolean.", "bool_type": "Not a valid boolean.",
    "string_type": "Not a valid string.", "string_unicode": "Not a valid string.",
    "list_type": "Not a valid list.", "tuple_type": "Not a valid list.",
    "dict_type": "Not a valid mapping type.",
    "model_type": "Invalid input type.", "model_attributes_type": "Invalid input type.",
    "datetime_parsing": "Not a valid datetime.", "datetime_type": "Not a valid datetime.",
    "datetime_from_date_parsing": "Not a valid datetime.",
    "date_parsing": "Not a valid date.", "date_type": "Not a valid date.",
    "date_from_datetime_parsing": "Not a valid date.",
    "string_pattern_mismatch": "String does not match expected pattern.",
    "json_invalid": "Invalid JSON body.",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "Must be greater than or equal to {}."),
    "greater_than": ("gt", "Must be greater than {}."),
    "less_than_equal": ("le", "Must be less than or equal to {}."),
    "less_than": ("lt", "Must be less than {}."),
    "too_short": ("min_length", "Shorter than minimum length {}."),
    "string_too_short": ("min_length", "Shorter than minimum length {}."),
    "too_long": ("max_length", "Longer than maximum length {}."),
    "string_too_long": ("max_length", "Longer than maximum length {}."),
}
_QUOTED = re.compile(r"'([^']*)'")


def _message(error: dict[str, Any]) -> str:
    """marshmallow's sentence for a pydantic error; our own validators' text unchanged."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, template = _BOUNDS[kind]
        return template.format(ctx[key])
    if kind in {"enum", "literal_error", "union_tag_invalid"}:
        expected = str(ctx.get("expected") or ctx.get("expected_tags") or "")
        choices = _QUOTED.findall(expected) or [c.strip() for c in expected.split(",") if c]
        if choices:
            return f"Must be one of: {', '.join(choices)}."
    message = str(error.get("msg", "Invalid value."))
    return message.removeprefix("Value error, ")


def _looks_like_type_tag(part: Any) -> bool:
    # Smart (undiscriminated) unions tag errors with the member's schema name.
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "float", "bool",
                                                              "none", "list", "dict"})


def field_path(parts: Sequence[Any], data: Any = _MISSING) -> list[str]:
    """The client's dotted path of an error location, without pydantic's union tags.

    Pydantic puts the chosen union member (``Point`` of a discriminated geometry) into the
    location; the client never wrote it. Walking the submitted data keeps exactly the parts
    that index into it, plus the last part (a missing or extra field is not in the data).
    """
    path: list[str] = []
    current = data
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            path.append(part)
            current = current[part]
        elif (isinstance(current, list) and isinstance(part, int)
              and not isinstance(part, bool) and 0 <= part < len(current)):
            path.append(str(part))
            current = current[part]
        elif current is _MISSING or not isinstance(current, dict | list):
            # Nothing to walk (query, path, or beyond the data): drop only obvious tags.
            if not _looks_like_type_tag(part):
                path.append(str(part))
            current = _MISSING
        elif last:
            path.append(str(part))
        # Otherwise the part indexes nothing the client sent: a union tag, dropped.
    return path


def validation_body(
    errors: Sequence[Any], *, form: bool = False, body: Any = _MISSING
) -> dict[str, Any]:
    """Turn pydantic errors into ``{"detail": {location: {field: {...: [msgs]}}}, "message"}``,
    nested by path as marshmallow writes it."""
    detail: dict[str, dict[str, Any]] = {}
    for error in errors:
        loc = list(error.get("loc", ()))
        where = str(loc[0]) if loc else "body"
        location = "form" if (where == "body" and form) else _LOCATIONS.get(where, where)
        data = body if where == "body" else _MISSING
        path = [] if error.get("type") == "json_invalid" else field_path(loc[1:], data)
        # The path stays a list: a client's key may itself contain a dot.
        put_error(detail.setdefault(location, {}), path or [SCHEMA_KEY], [_message(error)])
    return {"detail": detail, "message": "Validation error"}


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body = exc.body if exc.body is not None else _MISSING
    return JSONResponse(validation_body(exc.errors(), form=_is_form(request), body=body),
                        status_code=422)


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    # FastAPI's detail when it cannot even decode the body (bad UTF-8, nesting beyond the
    # parser's recursion limit): the same failure as broken JSON, so the same 422.
    if exc.status_code == 400 and exc.detail == UNPARSEABLE_BODY:
        location = "form" if _is_form(request) else "json"
        return JSONResponse({"detail": {location: {SCHEMA_KEY: ["Invalid JSON body."]}},
                             "message": "Validation error"}, status_code=422)
    if exc.status_code == 400:
        # Any other bare 400 in the contract's Error shape.
        body: dict[str, Any] = {"code": "validation_error", "title": "Request is malformed",
                                "detail": {"description": str(exc.detail)}}
        return JSONResponse(body, status_code=400, headers=exc.headers)
    message = messages.get(exc.status_code, str(exc.detail))
    body = {"detail": {"description": str(exc.detail)}, "message": message}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A concurrent request won a race the service's own checks could not see (both
    # checked, both inserted): the database's constraint decides, and that is a conflict.
    assert isinstance(exc, IntegrityError)
    log.info("integrity conflict: %s", exc.orig)
    if _is_unique_violation(exc):
        body = {"code": "duplicate_resource", "title": "Duplicate resource",
                "detail": {"description": "A resource with this identifier already exists."}}
    else:
        body = {"code": "conflict", "title": "Conflicting change",
                "detail": {"description": "The change conflicts with the current data."}}
    return JSONResponse(body, status_code=409)


# PostgreSQL's retryable contention: lock_not_available, deadlock_detected,
# serialization_failure, query_canceled (statement_timeout / lock_timeout).
_RETRYABLE_SQLSTATES = frozenset({"55P03", "40P01", "40001", "57014"})
RETRY_AFTER_S = 1


def is_contention(exc: OperationalError) -> bool:
    """Whether ``exc`` is the database being busy (SQLite's lock wait ran out, PostgreSQL's
    lock or serialization conflicts), which a retry can get past."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRYABLE_SQLSTATES
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


async def _operational_error(request: Request, exc: Exception) -> JSONResponse:
    # Another writer held the database past the busy timeout: the request did nothing
    # (its transaction rolled back), so it is safe to retry; say so instead of a 500.
    assert isinstance(exc, OperationalError)
    if not is_contention(exc):
        return await _unexpected(request, exc)
    log.warning("database busy, answered 503: %s", exc.orig)
    return JSONResponse(
        {"detail": {"description": "The database is busy; retry shortly."},
         "message": "Service unavailable"},
        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        {"detail": {}, "message": "Internal server error"}, status_code=500
    )


# The handlers, most specific first (error_response picks the first that matches).
_HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Exception],
                                                   Awaitable[JSONResponse]]], ...] = (
    (ApiError, _api_error),
    (RequestValidationError, _validation_error),
    (StarletteHTTPException, _http_exception),
    (IntegrityError, _integrity_error),
    (OperationalError, _operational_error),
    (Exception, _unexpected),
)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the contract's shape."""
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer the app's handlers give ``exc``, for code that answers outside FastAPI's
    routing (``tracking/fastpath.py``)."""
    handler = next(handler for kind, handler in _HANDLERS if isinstance(exc, kind))
    return await handler(request, exc)
