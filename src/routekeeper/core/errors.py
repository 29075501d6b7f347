"""Domain errors that carry their HTTP status and render in the contract's three shapes.

- ``HTTPError``: ``{"detail": {...}, "message": "..."}`` (401, most 404s, 413).
- ``ValidationError``: ``{"detail": {"<location>": {"<field>": ["msg"]}}, "message": ...}``,
  nested by path as marshmallow writes it: ``{"json": {"orders": {"0": {"type": [...]}}}}``.
- ``Error``: ``{"code": "...", "title": "...", "detail": ...}`` (400/409 and documented 404s).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status and a JSON body in one of the contract's shapes."""

    status_code: int = 400

    def __init__(
        self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("message") or body.get("title") or str(status_code))
        self.status_code = status_code
        self.body = body
        self.headers = headers


class HttpError(ApiError):
    """The ``HTTPError`` shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        detail: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, {"detail": detail or {}, "message": message}, headers)


class CodedError(ApiError):
    """The ``Error`` shape with a machine-readable code."""

    def __init__(
        self, status_code: int, code: str, title: str, detail: Any = None
    ) -> None:
        super().__init__(status_code, {"code": code, "title": title, "detail": detail})
        self.code = code


# marshmallow's key for errors of a whole object rather than one of its fields.
SCHEMA_KEY = "_schema"


def put_error(node: dict[str, Any], path: list[str], messages: list[str]) -> None:
    """Append ``messages`` under ``path`` in the nested error tree ``node``."""
    key, rest = path[0], path[1:]
    current = node.get(key)
    if not rest:
        if isinstance(current, dict):
            # The field has errors of its parts already: its own go under ``_schema``.
            current = current.setdefault(SCHEMA_KEY, [])
        else:
            current = node.setdefault(key, [])
        current.extend(m for m in messages if m not in current)
        return
    if isinstance(current, list):
        node[key] = {SCHEMA_KEY: current}
    put_error(node.setdefault(key, {}), rest, messages)


def nest_errors(flat: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, Any]]:
    """Nest ``{location: {"a.0.b": [msgs]}}`` into ``{location: {"a": {"0": {"b": [msgs]}}}}``.

    This is how APIFlask (webargs and marshmallow) reports errors, which HyperTrack's
    backend is built on (contract 1.2): a client written against it walks the tree.
    """
    nested: dict[str, dict[str, Any]] = {}
    for location, fields in flat.items():
        tree = nested.setdefault(location, {})
        for field, messages in fields.items():
            put_error(tree, field.split(".") if field else [SCHEMA_KEY], list(messages))
    return nested


class RequestValidationFailed(ApiError):
    """The ``ValidationError`` shape (422); dotted field paths are nested (``nest_errors``)."""

    def __init__(self, errors: dict[str, dict[str, list[str]]]) -> None:
        super().__init__(422, {"detail": nest_errors(errors), "message": "Validation error"})


def not_found(what: str, handle: str | None = None) -> HttpError:
    """A 404 in the ``HTTPError`` shape, naming what was not found."""
    detail = {"description": f"{what} not found for handle {handle}"} if handle else {}
    return HttpError(404, f"{what} not found", detail)


def invalid_field(location: str, field: str, message: str) -> RequestValidationFailed:
    """A 422 naming one field at one location (``json``, ``query``, ``path``...)."""
    return RequestValidationFailed({location: {field: [message]}})


def conflict(code: str, title: str, detail: Any = None) -> CodedError:
    """A 409 in the ``Error`` shape."""
    return CodedError(409, code, title, detail)
