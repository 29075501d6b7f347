"""FastAPI dependencies for endpoints that change routes or the orders on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.dependencies import SettingsDep, TravelDep, WriteSession
from routekeeper.routes.context import RouteContext


def change_context(account: CurrentAccount, session: WriteSession, settings: SettingsDep,
                   travel: TravelDep) -> RouteContext:
    """The context of a change: the account's write session, settings and travel model."""
    return RouteContext(session, account.account_id, settings, travel)


ChangeContext = Annotated[RouteContext, Depends(change_context)]
