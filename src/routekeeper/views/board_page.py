"""The plans board (``/board``): one ops group's plans of a day for the account's own
people (HTTP Basic, like the API), their routes on a map, and the unplanned orders."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from routekeeper.core.clock import utcnow
from routekeeper.models.account import Account
from routekeeper.views import board
from routekeeper.views.pages import app_parts, challenge, page, signed_in
from routekeeper.views.tokens import account_token


def _page(request: Request) -> Response:
    settings, db = app_parts(request)
    account_id = signed_in(request)
    if account_id is None:
        return challenge(request)
    day_text = request.query_params.get("date")
    day = board.parse_day(day_text)
    with db.read() as session:
        account = session.get(Account, account_id)
        assert account is not None

        def link(handle: str) -> str:
            return (f"/embed/routes/{quote(handle, safe='')}"
                    f"?token={account_token(settings, account, handle)}")

        view = board.board_view(session, account_id, day=day,
                                group_handle=request.query_params.get("ops_group"),
                                now=utcnow(), embed_link=link)
    notice = "Not a date: showing today." if day_text and day is None else None
    return page(request, "board.html", {**view, "notice": notice, "map": {
        "routes": [{"handle": r["route_handle"], "colour": r["colour"], "line": r["line"],
                    "points": r["points"], "link": r["link"]}
                   for p in view["plans"] for r in p["routes"]],
        "unplanned": [{"point": o["point"], "title": f"{o['order_handle']}: {o['reason']}"}
                      for p in view["plans"] for o in p["unplanned"] if o["point"]],
    }})


async def board_page(request: Request) -> Response:
    """Ops: one ops group's plans of a day, their routes on a map, and unplanned orders."""
    return await run_in_threadpool(_page, request)
