"""FastAPI dependencies for endpoints that change routes or the orders on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.dependencies import SettingsDep, TravelDep, WriteSession
from routekeeper.routes.context import RouteContext
from routekeeper.tracking.service import worker_location
from routekeeper.views.tokens import embed_links


def change_context(account: CurrentAccount, session: WriteSession, settings: SettingsDep,
                   travel: TravelDep) -> RouteContext:
    """The context of a change: the account's write session, settings and travel model."""
    return RouteContext(session, account.account_id, settings, travel, worker_location,
                        embed_links(settings, account))


ChangeContext = Annotated[RouteContext, Depends(change_context)]
