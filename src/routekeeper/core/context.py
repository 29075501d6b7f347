"""The request id of the work under way: set per request, carried into jobs and deliveries."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
# A client's own id is kept when it is short and plain (it goes into logs and headers).
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("routekeeper_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or of the request a job came from) being served, if any."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh random request id."""
    return secrets.token_hex(16)


def accept_request_id(offered: str | None) -> str:
    """The client's ``X-Request-ID`` when it is acceptable, else a fresh one."""
    if offered and _ACCEPTABLE.fullmatch(offered):
        return offered
    return new_request_id()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Run the block with ``request_id`` as the current one (restored afterwards)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)
