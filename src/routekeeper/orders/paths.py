"""The path of one order, shared by the endpoint modules of orders, order tasks and webhooks."""

from __future__ import annotations

import re

from starlette.convertors import StringConvertor, register_url_convertor

# Literal segments of other /orders/ operations (contract 1.2): they must win over
# /orders/{order_handle}, so an order handle never matches them (an order with such a
# handle exists but is unreachable, as on HyperTrack). Without this, GET /orders/track
# would be answered "Order not found" instead of 405.
LITERAL_SEGMENTS = ("plans", "routes", "track", "export", "estimate", "tasks-definitions",
                    "estimated-routes")


class OrderHandleConvertor(StringConvertor):
    """A path segment that is not one of the literal ``/orders/<segment>`` paths."""

    regex = "(?!(?:" + "|".join(re.escape(s) for s in LITERAL_SEGMENTS) + ")(?:/|$))[^/]+"


register_url_convertor("order_handle", OrderHandleConvertor())
ORDER = "/orders/{order_handle:order_handle}"
