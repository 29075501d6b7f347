"""``POST /oauth/token``: OAuth2 client credentials for a Bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel

from routekeeper.accounts.auth import check_basic, unauthorized
from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s
from routekeeper.core.errors import invalid_field
from routekeeper.core.responses import ERRORS_401_422
from routekeeper.dependencies import SettingsDep

router = APIRouter(tags=["Auth"])


class AccessToken(BaseModel):
    """An OAuth2 access token."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int


@router.post("/oauth/token", response_model=AccessToken, responses=ERRORS_401_422)
def issue_access_token(
    request: Request,
    response: Response,
    settings: SettingsDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    scope: Annotated[str | None, Form()] = None,
) -> AccessToken:
    """Exchange AccountID (client_id) and SecretKey (client_secret) for a Bearer token."""
    if grant_type != "client_credentials":
        raise invalid_field("form", "grant_type", "Must be one of: client_credentials.")
    account = check_basic(request, client_id, client_secret)
    if account is None:
        raise unauthorized("Invalid client_id or client_secret.")
    ttl = settings.api.token_ttl_s
    token = issue_token(
        settings.signing_keys.current,
        TokenClaims(account.account_id, account.secret_version, now_s() + ttl),
    )
    # RFC 6749 5.1: responses carrying tokens must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return AccessToken(access_token=token, expires_in=ttl)
