"""Account rules: creation (with its default ops group), credential checks, rotation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from routekeeper.accounts import repository
from routekeeper.accounts.secrets import hash_secret, new_account_id, new_secret_key, verify_secret
from routekeeper.core.clock import utcnow
from routekeeper.models.account import Account
from routekeeper.models.ops_group import OpsGroup

ACCOUNT_ID_MAX = 64
_DUMMY_SALT, _DUMMY_HASH = hash_secret(new_secret_key())


@dataclass(frozen=True)
class NewCredentials:
    """An account's id and its secret key, shown once at creation or rotation."""

    account_id: str
    secret_key: str
    name: str


def create_account(
    session: Session, *, name: str, contact_email: str | None = None
) -> NewCredentials:
    """Create an account with its ``default`` ops group and return its credentials."""
    account_id = new_account_id()
    secret = new_secret_key()
    salt, digest = hash_secret(secret)
    now = utcnow()
    repository.add(
        session,
        Account(
            account_id=account_id, name=name, contact_email=contact_email, secret_salt=salt,
            secret_hash=digest, secret_version=1, created_at=now,
        ),
        OpsGroup(
            account_id=account_id, ops_group_handle="default", name="Default", timezone="UTC",
            created_at=now, updated_at=now,
        ),
    )
    return NewCredentials(account_id=account_id, secret_key=secret, name=name)


def _could_be_account_id(account_id: str) -> bool:
    # Anything else cannot name an account, and NUL would make PostgreSQL fail the query.
    return 0 < len(account_id) <= ACCOUNT_ID_MAX and account_id.isprintable()


def authenticate(session: Session, account_id: str, secret: str) -> Account | None:
    """The account whose id and secret key these are, or None."""
    account = repository.get(session, account_id) if _could_be_account_id(account_id) else None
    if account is None:
        # Hash anyway so an unknown AccountID answers as slowly as a wrong SecretKey.
        verify_secret(secret, _DUMMY_SALT, _DUMMY_HASH)
        return None
    if not verify_secret(secret, account.secret_salt, account.secret_hash):
        return None
    return account


def rotate_secret(session: Session, account_id: str) -> NewCredentials | None:
    """Replace an account's secret key; tokens issued for the old one stop working."""
    account = repository.get(session, account_id)
    if account is None:
        return None
    secret = new_secret_key()
    account.secret_salt, account.secret_hash = hash_secret(secret)
    account.secret_version += 1
    return NewCredentials(account_id=account.account_id, secret_key=secret, name=account.name)


def list_accounts(session: Session) -> list[Account]:
    """Every account, oldest first."""
    return repository.all_accounts(session)
