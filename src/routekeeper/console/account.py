"""Sign-in, sign-out, the overview and the API secret's rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from routekeeper.accounts.auth import check_basic
from routekeeper.accounts.service import rotate_secret
from routekeeper.console.auth import (
    COOKIE,
    Form,
    SignedIn,
    cookie_options,
    form_token,
    session_token,
)
from routekeeper.console.render import page, see_other
from routekeeper.core.errors import ApiError
from routekeeper.dependencies import get_db, get_settings
from routekeeper.models.account import Account

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return page(request, "login.html", {"account_id": ""})


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange the account id and secret key for a console session."""
    form = await request.form()
    account_id = str(form.get("account_id") or "").strip()
    secret = str(form.get("secret_key") or "")
    settings = get_settings(request)
    try:
        account = await run_in_threadpool(check_basic, request, account_id, secret)
    except ApiError as exc:
        # Too many failures: the limit's own message, with its status and Retry-After.
        return page(request, "login.html", {
            "account_id": account_id,
            "error": exc.body.get("detail", {}).get("description", "Try again later."),
        }, status_code=exc.status_code)
    if account is None:
        return page(request, "login.html", {
            "account_id": account_id, "error": "That account id and secret key do not match.",
        }, status_code=401)
    response = see_other("/console")
    response.set_cookie(COOKIE, session_token(settings, account),
                        **cookie_options(settings))  # type: ignore[arg-type]
    return response


@router.post("/logout")
def logout(_operator: SignedIn, _form: Form) -> Response:
    """End the console session."""
    response = see_other("/console/login")
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("")
def overview(request: Request, operator: SignedIn) -> HTMLResponse:
    """The console's start page."""
    return page(request, "overview.html", _base(operator))


@router.get("/secret")
def secret_page(request: Request, operator: SignedIn) -> HTMLResponse:
    """The API secret page: what rotating means, and the button."""
    return page(request, "secret.html", {**_base(operator), "new_secret": None})


@router.post("/secret/rotate")
def rotate(request: Request, operator: SignedIn, form: Form) -> Response:
    """Rotate the API secret key: shown once here; the old one stops working at once."""
    if form.get("confirm") != "yes":
        return page(request, "secret.html", {
            **_base(operator), "new_secret": None,
            "error": "Tick the box to confirm that the old secret key may stop working.",
        }, status_code=422)
    settings = get_settings(request)
    with get_db(request).write() as session:
        credentials = rotate_secret(session, operator.account_id)
        account = session.get(Account, operator.account_id)
        assert credentials is not None and account is not None
        token = session_token(settings, account)
    # The operator stays signed in, on a session of the new secret.
    context = {**_base(operator), "csrf": form_token(settings, token),
               "new_secret": credentials.secret_key,
               "notice": "The secret key was rotated. The old one no longer works."}
    response = page(request, "secret.html", context)
    response.set_cookie(COOKIE, token, **cookie_options(settings))  # type: ignore[arg-type]
    return response


def _base(operator: Any) -> dict[str, Any]:
    return {"account": operator, "csrf": operator.csrf}
