"""SQL for accounts: the account and its default ops group stored, one looked up, all listed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.models.account import Account
from routekeeper.models.ops_group import OpsGroup


def add(session: Session, account: Account, default_group: OpsGroup) -> None:
    """Store a new account, then its default ops group (which refers to it)."""
    session.add(account)
    session.flush()
    session.add(default_group)


def get(session: Session, account_id: str) -> Account | None:
    """An account by id, or None."""
    return session.get(Account, account_id)


def all_accounts(session: Session) -> list[Account]:
    """Every account, oldest first."""
    return list(session.scalars(select(Account).order_by(Account.created_at)))
