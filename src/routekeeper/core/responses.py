"""OpenAPI descriptions of the contract's three error shapes, for every endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Response
from pydantic import BaseModel, Field
from typing_extensions import TypeAliasType

# marshmallow's nesting: a field maps to its messages, or to the errors of its parts.
ErrorTree = TypeAliasType("ErrorTree", "dict[str, list[str] | ErrorTree]")


def _no_store(response: Response) -> None:
    # A secret shown once must not stay in a browser's or a proxy's cache (RFC 9111 5.2.2.5).
    response.headers["Cache-Control"] = "no-store"


# ``dependencies=NO_STORE`` on every operation whose answer carries a secret or a token.
NO_STORE = [Depends(_no_store)]


class HTTPErrorBody(BaseModel):
    """The ``HTTPError`` shape."""

    detail: dict[str, Any] = Field(default_factory=dict)
    message: str


class ValidationErrorBody(BaseModel):
    """The ``ValidationError`` shape: location -> field -> messages, nested by path."""

    detail: dict[str, ErrorTree]
    message: str = "Validation error"


class ErrorBody(BaseModel):
    """The ``Error`` shape with a machine-readable code."""

    code: str
    title: str
    detail: Any = None


Responses = dict[int | str, dict[str, Any]]


def _doc(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


R401: Responses = {401: _doc(HTTPErrorBody, "Authentication error")}
R404: Responses = {404: _doc(HTTPErrorBody, "Not found")}
R404_CODED: Responses = {404: _doc(ErrorBody, "Not found")}
# Operations whose 404 is the path's resource (HTTPError) or one the body names (Error).
R404_EITHER: Responses = {404: _doc(HTTPErrorBody | ErrorBody,  # type: ignore[arg-type]
                                    "Not found: the path's resource (HTTPError) or one the "
                                    "body names, such as the worker (Error)")}
R409: Responses = {409: _doc(ErrorBody, "Conflict")}
R400: Responses = {400: _doc(ErrorBody, "Bad request")}
R413: Responses = {413: _doc(HTTPErrorBody, "Request body too large")}
R422: Responses = {422: _doc(ValidationErrorBody, "Validation error")}

ERRORS_401_422: Responses = {**R401, **R422}
ERRORS_401_404_422: Responses = {**R401, **R404, **R422}
ERRORS_ALL: Responses = {**R400, **R401, **R404, **R409, **R422}
