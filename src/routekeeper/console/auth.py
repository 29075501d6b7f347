"""Console sign-in: the account's id and secret key in a form, then a signed cookie.

The secret never travels in a URL: it is posted once and exchanged for a cookie holding a
signed token of scope ``console`` (``accounts.secrets``) bound to the account's secret
version, so rotating the secret ends every console session made with the old one. The
cookie is HttpOnly and SameSite=Strict; every form also carries a token derived from the
cookie (checked on each post), so another site cannot post on the operator's behalf.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from routekeeper.accounts.limits import guard, route_class
from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s, read_token
from routekeeper.core.errors import ApiError, HttpError
from routekeeper.core.signing_keys import mac
from routekeeper.dependencies import get_db, get_settings
from routekeeper.models.account import Account
from routekeeper.settings import Settings

COOKIE = "rk_console"
SCOPE = "console"
SESSION_S = 8 * 3600


@dataclass(frozen=True)
class Operator:
    """The account signed in to the console, and the form token of its session."""

    account_id: str
    name: str
    contact_email: str | None
    csrf: str


def session_token(settings: Settings, account: Account) -> str:
    """A signed console session for the account's current secret."""
    return issue_token(settings.signing_keys.current, TokenClaims(
        account.account_id, account.secret_version, now_s() + SESSION_S, scope=SCOPE))


def form_token(settings: Settings, session: str) -> str:
    """The anti-forgery token of a session (forms echo it; another site cannot read it)."""
    return mac(settings.signing_keys.current, b"console-form:" + session.encode()).hex()[:40]


def cookie_options(settings: Settings) -> dict[str, object]:
    """How the session cookie is set: HttpOnly, SameSite=Strict, Secure behind https."""
    return {"httponly": True, "samesite": "strict", "path": "/console",
            "secure": settings.public_url.startswith("https://"), "max_age": SESSION_S}


def _to_login() -> HttpError:
    return HttpError(303, "Sign in", {"description": "Sign in to the console."},
                     headers={"Location": "/console/login", "Cache-Control": "no-store"})


def operator(request: Request) -> Operator:
    """The signed-in account, or a redirect to the sign-in page; each request is charged to
    the account's ``console`` rate limit."""
    settings = get_settings(request)
    cookie = request.cookies.get(COOKIE, "")
    claims = read_token(settings.signing_keys, cookie, scope=SCOPE) if cookie else None
    if claims is None:
        raise _to_login()
    with get_db(request).read() as session:
        account = session.get(Account, claims.account_id)
        if account is None or account.secret_version != claims.secret_version:
            raise _to_login()
        found = Operator(account.account_id, account.name, account.contact_email,
                         form_token(settings, cookie))
    guard(request).charge(found.account_id, route_class(request.method, "/console"))
    return found


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after its anti-forgery token was checked (else 403)."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    cookie = request.cookies.get(COOKIE, "")
    expected = form_token(get_settings(request), cookie)
    if not cookie or not hmac.compare_digest(fields.get("csrf", ""), expected):
        raise ApiError(403, {"detail": {"description": "The form expired: reload the page."},
                             "message": "Forbidden"})
    return fields


SignedIn = Annotated[Operator, Depends(operator)]
Form = Annotated[dict[str, str], Depends(checked_form)]
