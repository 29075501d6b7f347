"""Render every error in the contract's shapes; nothing leaks a stack trace or a 500 body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from routekeeper.core.errors import ApiError

log = logging.getLogger(__name__)

_LOCATIONS = {"body": "json", "query": "query", "path": "path", "header": "headers",
              "cookie": "cookies"}


def _message(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        return "Invalid JSON body."
    if kind == "missing":
        return "Missing data for required field."
    message = str(error.get("msg", "Invalid value."))
    return message.removeprefix("Value error, ")


def validation_body(errors: list[dict[str, Any]], *, form: bool = False) -> dict[str, Any]:
    """Turn pydantic errors into ``{"detail": {location: {field: [msgs]}}, "message"}``."""
    detail: dict[str, dict[str, list[str]]] = {}
    for error in errors:
        loc = list(error.get("loc", ()))
        where = str(loc[0]) if loc else "body"
        location = "form" if (where == "body" and form) else _LOCATIONS.get(where, where)
        path = [str(part) for part in loc[1:]]
        field = "_schema" if error.get("type") == "json_invalid" or not path else ".".join(path)
        detail.setdefault(location, {}).setdefault(field, []).append(_message(error))
    return {"detail": detail, "message": "Validation error"}


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    form = content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    return JSONResponse(validation_body(list(exc.errors()), form=form), status_code=422)


async def _http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    message = messages.get(exc.status_code, str(exc.detail))
    body = {"detail": {"description": str(exc.detail)}, "message": message}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        {"detail": {}, "message": "Internal server error"}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the contract's shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unexpected)
