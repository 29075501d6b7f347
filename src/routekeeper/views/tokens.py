"""Embed tokens: signed, expiring, read-only access to one route's or one order's ops view.

An embed token is a bearer token of scope ``embed`` (``accounts.secrets``) whose subject is a
route handle: it opens that route's page, data and event stream, and nothing else. It carries
the account's secret version, so rotating the secret key revokes every embed link too.

``embed_links`` gives an endpoint the ``core.links.Links`` its answer's wire shapes sign their
``embed_url`` with: the account's token for each route. Outside a request (a worker job, say)
links are left unsigned and the page asks for the account's credentials instead.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from routekeeper.accounts.auth import Principal
from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s, read_token
from routekeeper.core.links import Links
from routekeeper.models.account import Account
from routekeeper.settings import Settings

EMBED_SCOPE = "embed"
TOKEN_PARAM = "token"
# Characters urlencode leaves as they are (tokens are base64url with a dot).
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


class AccountKey(Protocol):
    """What signs for an account: its id and the version of its secret key (an account row,
    or the request's principal)."""

    @property
    def account_id(self) -> str:
        """The account."""

    @property
    def secret_version(self) -> int:
        """Bumped when the secret key is rotated (revoking the account's tokens)."""


def issue_embed_token(
    settings: Settings, *, account_id: str, secret_version: int, route_handle: str
) -> str:
    """A token that opens one route's embed view until ``views.embed_token_ttl_s`` from now."""
    claims = TokenClaims(account_id=account_id, secret_version=secret_version,
                         expires_at=now_s() + settings.views.embed_token_ttl_s,
                         scope=EMBED_SCOPE, subject=route_handle)
    return issue_token(settings.signing_keys.current, claims)


def account_token(settings: Settings, account: AccountKey, route_handle: str, *,
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


class EmbedSigner:
    """Signs the embed links of one account's answer: one token per route, made once (a page
    of plans shows a thousand orders on a few hundred routes)."""

    def __init__(self, settings: Settings, account: AccountKey) -> None:
        self._settings = settings
        self._account = account
        self._signing_key: str | None = None
        self._signed: dict[str, str] = {}

    def __call__(self, url: str, route_handle: str) -> str:
        """``url`` with the account's embed token for ``route_handle``."""
        signed = self._signed.get(url)
        if signed is None:
            if self._signing_key is None:
                # Read once: without a configured secret key it comes from a file.
                self._signing_key = self._settings.signing_keys.current
            token = account_token(self._settings, self._account, route_handle,
                                  signing_key=self._signing_key)
            signed = self._signed[url] = with_token(url, token)
        return signed


def embed_links(settings: Settings, principal: Principal) -> Links:
    """The links of an answer to ``principal``: embed links signed with its tokens."""
    return Links(settings.public_url, EmbedSigner(settings, principal))
