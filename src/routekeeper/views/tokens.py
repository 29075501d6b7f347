"""Embed tokens: signed, expiring, read-only access to one route's or one order's ops view.

An embed token is a bearer token of scope ``embed`` (``accounts.secrets``) whose subject is a
route handle: it opens that route's page, data and event stream, and nothing else. It carries
the account's secret version, so rotating the secret key revokes every embed link too.

``embed_url`` (routes) signs the links the API hands out. It has no settings of its own, so
the views install a middleware that makes the serving app's settings known for the length of
each request; outside a request (a worker job, say) links are left unsigned and the page asks
for the account's credentials instead.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session, object_session
from starlette.types import ASGIApp, Receive, Scope, Send

from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s, read_token
from routekeeper.models.account import Account
from routekeeper.settings import Settings

EMBED_SCOPE = "embed"
TOKEN_PARAM = "token"
# Characters urlencode leaves as they are (tokens are base64url with a dot).
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")

_request_settings: ContextVar[Settings | None] = ContextVar(
    "routekeeper_request_settings", default=None)
# The tokens signed while serving one request, by (account, route): a page of plans shows a
# thousand orders on a few hundred routes, and each would otherwise look up the account (the
# session's identity map keeps no strong reference to it) and sign again.
_request_tokens: ContextVar[dict[tuple[str, str], object] | None] = ContextVar(
    "routekeeper_request_tokens", default=None)


class RouteRow(Protocol):
    """A row that names an account's route: a route, or an order on one."""

    @property
    def account_id(self) -> str:
        """The account the row belongs to."""

    @property
    def route_handle(self) -> str | None:
        """The route the row is (or is on)."""


class RequestSettings:
    """ASGI middleware: the app's settings are the current ones while it serves a request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reset = _request_settings.set(self.settings)
        reset_tokens = _request_tokens.set({})
        try:
            await self.app(scope, receive, send)
        finally:
            _request_tokens.reset(reset_tokens)
            _request_settings.reset(reset)


def issue_embed_token(
    settings: Settings, *, account_id: str, secret_version: int, route_handle: str
) -> str:
    """A token that opens one route's embed view until ``views.embed_token_ttl_s`` from now."""
    claims = TokenClaims(account_id=account_id, secret_version=secret_version,
                         expires_at=now_s() + settings.views.embed_token_ttl_s,
                         scope=EMBED_SCOPE, subject=route_handle)
    return issue_token(settings.signing_keys.current, claims)


def account_token(settings: Settings, account: Account, route_handle: str, *,
                  signing_key: str | None = None) -> str:
    """An embed token of ``account`` for one of its routes, for the ``embed_url`` of API
    answers: its expiry is rounded up to the hour, so the same route gets the same link
    for up to an hour (stable for clients comparing answers, cacheable), and every link
    stays valid for at least ``views.embed_token_ttl_s``."""
    expires_at = (now_s() + settings.views.embed_token_ttl_s) // 3600 * 3600 + 3600
    claims = TokenClaims(account_id=account.account_id, secret_version=account.secret_version,
                         expires_at=expires_at, scope=EMBED_SCOPE, subject=route_handle)
    return issue_token(signing_key or settings.signing_keys.current, claims)


def check_embed_token(
    session: Session, settings: Settings, token: str, route_handle: str
) -> str | None:
    """The account an embed token grants ``route_handle`` of; None when it is forged,
    expired, of another scope or route, or issued before the account's secret was rotated."""
    claims = read_token(settings.signing_keys, token, scope=EMBED_SCOPE)
    if claims is None or claims.subject != route_handle:
        return None
    account = session.get(Account, claims.account_id)
    if account is None or account.secret_version != claims.secret_version:
        return None
    return account.account_id


# Order embeds (``/embed/orders/<handle>?fulfillment-attempt=N``) take tokens of a scope of
# their own, whose subject names the attempt too: a route's token never opens an order whose
# handle happens to be the route's, nor one attempt's token another attempt.
ORDER_EMBED_SCOPE = "embed-order"


def order_subject(order_handle: str, fulfillment_attempt: int) -> str:
    """The subject of an order embed token: ``<attempt>:<handle>``."""
    return f"{fulfillment_attempt}:{order_handle}"


def issue_order_embed_token(
    settings: Settings, *, account_id: str, secret_version: int, order_handle: str,
    fulfillment_attempt: int, expires_in: int | None = None,
) -> str:
    """A token that opens one order attempt's embed view for ``expires_in`` seconds
    (``views.embed_token_ttl_s`` by default)."""
    ttl = settings.views.embed_token_ttl_s if expires_in is None else expires_in
    claims = TokenClaims(account_id=account_id, secret_version=secret_version,
                         expires_at=now_s() + ttl, scope=ORDER_EMBED_SCOPE,
                         subject=order_subject(order_handle, fulfillment_attempt))
    return issue_token(settings.signing_keys.current, claims)


def check_order_embed_token(
    session: Session, settings: Settings, token: str, order_handle: str
) -> tuple[str, int] | None:
    """The account and attempt an order embed token grants ``order_handle`` of; None when it
    is forged, expired, of another scope or order, or older than the account's secret."""
    claims = read_token(settings.signing_keys, token, scope=ORDER_EMBED_SCOPE)
    if claims is None or claims.subject is None:
        return None
    attempt_text, _, handle = claims.subject.partition(":")
    if handle != order_handle or not attempt_text.isdigit():
        return None
    account = session.get(Account, claims.account_id)
    if account is None or account.secret_version != claims.secret_version:
        return None
    return account.account_id, int(attempt_text)


def with_token(url: str, token: str) -> str:
    """``url`` with its ``token`` query parameter set (any earlier one replaced)."""
    if "?" not in url and "#" not in url and _URL_SAFE.issuperset(token):
        return f"{url}?{TOKEN_PARAM}={token}"  # what urlencode writes, without parsing
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != TOKEN_PARAM]
    query.append((TOKEN_PARAM, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def without_token(url: str) -> str:
    """``url`` without its ``token`` query parameter."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != TOKEN_PARAM]
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign_embed_url(url: str, row: RouteRow) -> str:
    """``url`` with a fresh embed token for the row's route, when serving a request with the
    row loaded in a session; otherwise ``url`` unchanged (the page then asks for credentials)."""
    settings = _request_settings.get()
    session = object_session(row)
    if settings is None or session is None or not row.route_handle:
        return url
    memo = _request_tokens.get()
    if memo is None:
        memo = {}
    signed = memo.get((row.account_id, f"url:{url}"))
    if isinstance(signed, str):
        return signed
    key = (row.account_id, row.route_handle)
    token = memo.get(key)
    if isinstance(token, str):
        memo[(row.account_id, f"url:{url}")] = signed = with_token(url, token)
        return signed
    held = memo.get((row.account_id, ""))
    account = held if isinstance(held, Account) else None
    if account is None:
        with session.no_autoflush:
            account = session.get(Account, row.account_id)
        if account is None:
            return url
        memo[(row.account_id, "")] = account  # held here, so it is looked up once
    signing = memo.get(("", ""))
    if not isinstance(signing, str):
        # Read once a request: without a configured secret key it comes from a file.
        signing = settings.signing_keys.current
        memo[("", "")] = signing
    token = account_token(settings, account, row.route_handle, signing_key=signing)
    memo[key] = token
    memo[(row.account_id, f"url:{url}")] = signed = with_token(url, token)
    return signed
