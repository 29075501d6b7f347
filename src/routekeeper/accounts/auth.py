"""Authentication as HyperTrack does it: HTTP Basic ``AccountID:SecretKey`` or a Bearer token."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.security.base import SecurityBase

from routekeeper.accounts import repository
from routekeeper.accounts.limits import client_address, guard, route_class
from routekeeper.accounts.secrets import read_token
from routekeeper.accounts.service import authenticate
from routekeeper.core.errors import HttpError
from routekeeper.dependencies import get_db, get_settings
from routekeeper.models.account import Account


@dataclass(frozen=True)
class Principal:
    """The authenticated account of a request."""

    account_id: str
    name: str
    contact_email: str | None
    # Signs the answer's embed links (views.tokens.embed_links) without another read.
    secret_version: int


def unauthorized(description: str) -> HttpError:
    """A 401 in the ``HTTPError`` shape with a Basic challenge."""
    return HttpError(
        401, "Authentication error", {"description": description},
        headers={"WWW-Authenticate": 'Basic realm="routekeeper"'},
    )


def parse_basic(header: str) -> tuple[str, str] | None:
    """Split a ``Basic`` Authorization header into (user, password)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class _DocumentedScheme(SecurityBase):
    """A security scheme that only describes itself in OpenAPI; ``current_account`` checks.

    FastAPI's own HTTPBasic/HTTPBearer would answer malformed headers themselves, in
    another error shape, before our dependency could.
    """

    def __init__(self, scheme: str, name: str, description: str) -> None:
        self.model = HTTPBaseModel(scheme=scheme, description=description)
        self.scheme_name = name

    async def __call__(self) -> None:
        return None


# The names HyperTrack's own specification gives its two schemes.
BASIC_AUTH = _DocumentedScheme("basic", "BasicAuth", "HTTP Basic with AccountID:SecretKey.")
TOKEN_AUTH = _DocumentedScheme("bearer", "TokenAuth", "A Bearer token from POST /oauth/token.")


def _principal(account: Account) -> Principal:
    return Principal(account.account_id, account.name, account.contact_email,
                     account.secret_version)


def current_account(
    request: Request,
    _basic: Annotated[None, Security(BASIC_AUTH)],
    _token: Annotated[None, Security(TOKEN_AUTH)],
) -> Principal:
    """Resolve the request's account from Basic credentials or a Bearer token, else 401;
    then charge the request to the account's rate limit of its class (else 429)."""
    principal = _authenticate(request)
    route = getattr(request.scope.get("route"), "path", request.url.path)
    guard(request).charge(principal.account_id, route_class(request.method, str(route)))
    return principal


def check_basic(request: Request, account_id: str, secret: str) -> Account | None:
    """The account of Basic-style credentials, with failures limited per address and account
    (a 429 while limited, before the secret is even checked)."""
    limits, address = guard(request), client_address(request)
    trusted_until = limits.check_attempt(address, account_id)
    with get_db(request).read() as session:
        account = authenticate(session, account_id, secret)
        if account is not None:
            session.expunge(account)
    if account is None:
        limits.failed(address, account_id)
    else:
        limits.succeeded(address, account_id, trusted_until)
    return account


def _authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized("Missing Authorization header: use Basic AccountID:SecretKey.")
    db = get_db(request)
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "basic":
        credentials = parse_basic(header)
        if credentials is None:
            raise unauthorized("Malformed Basic credentials.")
        account = check_basic(request, *credentials)
        if account is None:
            raise unauthorized("Invalid AccountID or SecretKey.")
        return _principal(account)
    if scheme == "bearer":
        token = header.split(" ", 1)[1].strip() if " " in header else ""
        claims = read_token(get_settings(request).signing_keys, token)
        if claims is None:
            raise unauthorized("Invalid or expired access token.")
        with db.read() as session:
            account = repository.get(session, claims.account_id)
            if account is None or account.secret_version != claims.secret_version:
                raise unauthorized("Invalid or expired access token.")
            return _principal(account)
    raise unauthorized("Unsupported Authorization scheme: use Basic or Bearer.")


CurrentAccount = Annotated[Principal, Depends(current_account)]
