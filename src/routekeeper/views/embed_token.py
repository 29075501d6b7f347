"""``POST /oauth/embed-token`` (contract 1.1): sign a route's or an order's embed URL, so
that it opens without credentials until the token expires; and reading this server's own
embed URLs, which only this operation signs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.errors import CodedError, HttpError
from routekeeper.core.responses import R400, R401, R404, R422
from routekeeper.core.routing import Router
from routekeeper.dependencies import ReadSession, SettingsDep
from routekeeper.models.account import Account
from routekeeper.routes import repository as routes_repository
from routekeeper.settings import Settings
from routekeeper.views import repository, tokens
from routekeeper.views.pages import valid_key
from routekeeper.views.tokens import with_token, without_token

router = Router(tags=["Auth"])

ATTEMPT_PARAM = "fulfillment-attempt"


class EmbedTokenRequest(BaseModel):
    """``POST /oauth/embed-token``: the embed URL to sign (a route's ``embed_url``)."""

    embed_url: str | None = None
    grant_type: str | None = None


class EmbedToken(BaseModel):
    """A signed embed token and the embed URL carrying it."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    embed_url: str
    secure_embed_url: str


def _embed_path(embed_url: str, public_url: str, kind: str) -> tuple[str, str] | None:
    """``(handle, query)`` of one of this server's embed URLs of ``kind`` (``public_url``
    followed by ``/embed/<kind>/<handle>``, or that path alone), else None: a signed link to
    another host or scheme (``javascript:``) would lend this server's signature to it."""
    try:
        url, own = urlsplit(embed_url), urlsplit(public_url)
    except ValueError:
        return None
    if (url.scheme or url.netloc) and (url.scheme.lower(), url.netloc.lower()) != (
            own.scheme.lower(), own.netloc.lower()):
        return None
    if url.fragment:
        return None
    base = "" if not (url.scheme or url.netloc) else own.path.rstrip("/")
    prefix = f"{base}/embed/{kind}/"
    if not url.path.startswith(prefix):
        return None
    handle = url.path.removeprefix(prefix).rstrip("/")
    if not handle or "/" in handle or not valid_key(handle, 200):
        return None
    return handle, url.query


def embed_handle(embed_url: str, public_url: str) -> str | None:
    """The route handle of one of this server's route embed URLs, else None."""
    found = _embed_path(embed_url, public_url, "routes")
    return found[0] if found is not None else None


def parse_attempt(text: str | None) -> int | None:
    """A ``fulfillment-attempt`` value: a non-negative integer; ValueError otherwise."""
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ValueError(text)
    return int(text)


def order_embed_target(embed_url: str, public_url: str) -> tuple[str, int | None] | None:
    """The order handle and attempt (None: the latest) of one of this server's order embed
    URLs (``.../embed/orders/<handle>?fulfillment-attempt=N``, as HyperTrack's), else None."""
    found = _embed_path(embed_url, public_url, "orders")
    if found is None:
        return None
    handle, query = found
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == ATTEMPT_PARAM]
    try:
        return handle, parse_attempt(values[-1] if values else None)
    except ValueError:
        return None


def _with_param(url: str, name: str, value: str) -> str:
    """``url`` with its query parameter ``name`` set to ``value`` (earlier ones replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


@router.post("/oauth/embed-token", response_model=EmbedToken,
             responses={**R400, **R401, **R404, **R422})
def issue_embed_token(body: EmbedTokenRequest, account: CurrentAccount, session: ReadSession,
                      settings: SettingsDep, response: Response) -> EmbedToken:
    """Sign a route's embed URL so that it opens without credentials, until it expires."""
    if body.grant_type != "client_credentials":
        raise CodedError(400, "validation_error", "Unsupported grant_type",
                         {"description": "grant_type must be client_credentials"})
    if not body.embed_url:
        raise CodedError(400, "validation_error", "Missing embed_url",
                         {"description": "embed_url is required"})
    handle = embed_handle(body.embed_url, settings.public_url)
    if handle is None:
        target = order_embed_target(body.embed_url, settings.public_url)
        if target is None:
            raise CodedError(400, "validation_error", "Not an embed URL",
                             {"description": "embed_url must be a route's embed_url "
                                             "(.../embed/routes/<route_handle>) or an order's "
                                             "(.../embed/orders/<order_handle>"
                                             "?fulfillment-attempt=N)"})
        return _order_embed_token(body.embed_url, target, account.account_id, session,
                                  settings, response)
    if routes_repository.get_route(session, account.account_id, handle, lock=False) is None:
        raise HttpError(404, "Route not found",
                        {"description": f"Route not found for handle {handle}"})
    row = session.get(Account, account.account_id)
    assert row is not None
    # An explicit token request gets exactly expires_in, unlike the rounded embed_url links.
    token = tokens.issue_embed_token(settings, account_id=row.account_id,
                                     secret_version=row.secret_version,
                                     route_handle=handle)
    return _signed(response, settings, without_token(body.embed_url), token)


def _order_embed_token(embed_url: str, target: tuple[str, int | None], account_id: str,
                       session: Session, settings: Settings, response: Response) -> EmbedToken:
    """Sign an order attempt's embed URL (the latest attempt when it names none)."""
    handle, attempt = target
    order = repository.order_attempt(session, account_id, handle, attempt)
    if order is None:
        raise HttpError(404, "Order not found",
                        {"description": f"Order not found for handle {handle}"})
    row = session.get(Account, account_id)
    assert row is not None
    token = tokens.issue_order_embed_token(
        settings, account_id=row.account_id, secret_version=row.secret_version,
        order_handle=order.order_handle, fulfillment_attempt=order.fulfillment_attempt)
    plain = _with_param(without_token(embed_url), ATTEMPT_PARAM,
                        str(order.fulfillment_attempt))
    return _signed(response, settings, plain, token)


def _signed(response: Response, settings: Settings, plain: str, token: str) -> EmbedToken:
    """The answer carrying ``token`` and the embed URL ``plain`` with and without it."""
    response.headers["Cache-Control"] = "no-store"
    return EmbedToken(access_token=token, expires_in=settings.views.embed_token_ttl_s,
                      embed_url=plain, secure_embed_url=with_token(plain, token))

