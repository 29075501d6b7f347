"""A router that serves every path both with and without its trailing slash.

HyperTrack's own paths are inconsistent (``/orders/`` but ``/orders/track``), and clients
copy whichever form they saw; answering both avoids redirects that drop POST bodies.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter


class Router(APIRouter):
    """An APIRouter whose routes also answer at the other trailing-slash form."""

    def add_api_route(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        alternate = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
        alias_kwargs = dict(kwargs)
        alias_kwargs["include_in_schema"] = False
        if alias_kwargs.get("operation_id"):
            alias_kwargs["operation_id"] = alias_kwargs["operation_id"] + "_alt"
        super().add_api_route(alternate, endpoint, **alias_kwargs)


def anchor_paths_at_end(routes: list[Any]) -> None:
    """Make every route's pattern match only the whole path.

    Starlette anchors patterns with "$", which also matches before a trailing newline
    ("/orders/%0A" would be served as "/orders/"); "\\Z" anchors at the very end.
    """
    for route in routes:
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.pattern.endswith("$"):
            route.path_regex = re.compile(pattern.pattern[:-1] + r"\Z")
