"""The request id of the work under way: set per request, carried into jobs and deliveries."""

from __future__ import annotations

import itertools
import os
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


class _Ids:
    """Request ids: unique, not secret, so a random prefix of the process and a counter (an
    ``os.urandom`` call per request was 5 % of a single-fix upload's time). A forked child
    takes a prefix of its own."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reseed)


def new_request_id() -> str:
    """A fresh request id: 32 hex digits, unique across processes and restarts."""
    return _IDS.next()


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
