"""Request bodies an endpoint reads itself, answered and documented as if it declared them.

An endpoint that declares a pydantic body gets FastAPI's reading of it: stdlib ``json`` and a
validation of the whole model, before the endpoint runs. A hot endpoint may read its body
itself (``tracking/locations_body.py``); these helpers give everything it does not handle
itself FastAPI's own behaviour (``fastapi.routing.get_request_handler``, 0.165):

* the body is decoded as JSON only under ``application/json`` or ``application/<x>+json``
  (any case, parameters ignored). Without a content type, or with any other, the bytes
  themselves are validated and fail as the wrong type: FastAPI's default
  ``strict_content_type``, which this app keeps;
* an empty body is a missing body;
* JSON that does not decode is a 422 ``json_invalid``, raised while the body is read, that
  is *before* the endpoint's dependencies (its credentials); the other decoding failures (bad
  UTF-8, nesting beyond the recursion limit) and a failed read are FastAPI's 400 "There was an
  error parsing the body", which ``core.handlers`` answers as the same 422;
* validation errors are a ``RequestValidationError`` located under ``body``, rendered by the
  app's handler.

In the API document, :func:`json_body` (an operation's ``openapi_extra``) and
:func:`document_bodies` give the same request body and component schemas as a declared body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Components
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema

M = TypeVar("M", bound=BaseModel)

# FastAPI's detail of a body it could not read or decode (core.handlers answers it).
UNPARSEABLE_BODY = "There was an error parsing the body"
# Where FastAPI puts the schemas of the document's models.
_REF_TEMPLATE = "#/components/schemas/{model}"


async def read_body(request: Request) -> bytes:
    """The request's body; a read that fails (the client went away) is FastAPI's 400."""
    try:
        return await request.body()
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail=UNPARSEABLE_BODY) from exc


def is_json_content_type(value: str | None) -> bool:
    """Whether FastAPI decodes a body of this content type as JSON (see the module's
    docstring); ``email.message``'s reading of the header, which FastAPI uses."""
    if not value:
        return False
    media = value.partition(";")[0].strip().lower()
    main, slash, subtype = media.partition("/")
    # A type without exactly one "/" is invalid, and read as text/plain (RFC 2045 5.2).
    if not slash or "/" in subtype:
        return False
    return main == "application" and (subtype == "json" or subtype.endswith("+json"))


def decode_json(raw: bytes) -> Any:
    """``raw`` decoded by the stdlib, as FastAPI decodes a JSON body, with its errors."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
              "input": {}, "ctx": {"error": exc.msg}}],
            body=exc.doc) from exc
    except Exception as exc:
        # Undecodable bytes (UnicodeDecodeError), nesting too deep (RecursionError).
        raise HTTPException(status_code=400, detail=UNPARSEABLE_BODY) from exc


def validate_body(model: type[M], value: Any) -> M:
    """``value`` validated as FastAPI validates a declared body of type ``model``: decoded
    JSON, or the bytes of a body of another content type (empty bytes: no body at all)."""
    if isinstance(value, bytes) and not value:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])}
                  for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=value) from exc


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """An operation's ``openapi_extra`` documenting a required JSON body of ``model``, as
    FastAPI documents a declared one (:func:`document_bodies` adds the schema it names)."""
    refs, _ = models_json_schema([(model, "validation")], ref_template=_REF_TEMPLATE)
    schema = refs[(model, "validation")]
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


def document_bodies(app: FastAPI, models: Iterable[type[BaseModel]]) -> None:
    """Put the validation schemas of ``models``, bodies that endpoints read themselves, into
    the app's API document, as FastAPI puts in those of declared bodies."""
    build = app.openapi
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(model, "validation")
                                                            for model in models]

    def openapi() -> dict[str, Any]:
        fresh = not app.openapi_schema
        document = build()
        if fresh and wanted:
            _, defs = models_json_schema(wanted, ref_template=_REF_TEMPLATE)
            for schema in defs.get("$defs", {}).values():
                # FastAPI keeps a docstring's text before a form feed, as do we.
                if "description" in schema:
                    schema["description"] = str(schema["description"]).split("\f")[0]
            # Encoded as FastAPI encodes its document (which drops "default": null, ...).
            added = jsonable_encoder(Components(schemas=defs.get("$defs", {})),
                                     by_alias=True, exclude_none=True)["schemas"]
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in added.items():
                if schemas.setdefault(name, schema) != schema:
                    raise RuntimeError(f"The API document has another schema named {name}.")
            # In FastAPI's order: by name.
            document["components"]["schemas"] = dict(sorted(schemas.items()))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
