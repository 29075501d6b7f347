"""Recording the SQL a scenario issues, and judging each statement for sharding by account.

A statement *touches* a tenant table when it names one (every table with an ``account_id``
column). On Citus with ``account_id`` as the distribution column such a statement stays on
one shard only when it pins the account: an INSERT lists ``account_id`` among its columns,
and a SELECT, UPDATE or DELETE compares ``account_id`` in its WHERE clause and in the ON
clause of every JOIN. The check reads the SQL text SQLAlchemy sends, which names columns as
``table.column``; it is strict on purpose (a condition spelled any other way fails).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

from routekeeper.db.base import Base

TENANT_TABLES = frozenset(t.name for t in Base.metadata.sorted_tables if "account_id" in t.c)
_NAME = r'"?(\w+)"?'
_TABLE_REF = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO)\s+' + _NAME, re.IGNORECASE)
_JOIN_ON = re.compile(r'\bJOIN\s+"?(\w+)"?(?:\s+(?:AS\s+)?"?\w+"?)?\s+ON\s+(.*?)'
                      r'(?=\bJOIN\b|\bWHERE\b|\bGROUP\b|\bORDER\b|\bLIMIT\b|$)',
                      re.IGNORECASE | re.DOTALL)


@dataclass
class Recorder:
    """Every statement sent while recording, with the thread's label (API or worker)."""

    statements: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, statement: str) -> None:
        """Keep one statement."""
        with self.lock:
            self.statements.append(" ".join(statement.split()))


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record every statement any engine of this process sends meanwhile."""
    recorder = Recorder()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        recorder.add(statement)

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield recorder
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def tenant_tables(statement: str) -> set[str]:
    """The tenant tables a statement names."""
    return {name for name in _TABLE_REF.findall(statement) if name in TENANT_TABLES}


def _where(statement: str) -> str:
    match = re.search(r"\bWHERE\b(.*)", statement, re.IGNORECASE | re.DOTALL)
    return match.group(1) if match else ""


def _pins_account(clause: str) -> bool:
    return re.search(r'account_id"?\s*(=|IN\b|==)', clause, re.IGNORECASE) is not None or \
        re.search(r'(=|==)\s*"?\w+"?\.?"?account_id\b', clause, re.IGNORECASE) is not None


def problem(statement: str) -> str | None:
    """Why a statement would fan out across shards, or None when it stays on one."""
    tables = tenant_tables(statement)
    if not tables:
        return None
    verb = statement.lstrip().split(" ", 1)[0].upper()
    if verb == "INSERT":
        columns = re.search(r"\((.*?)\)", statement)
        if columns is None or "account_id" not in columns.group(1):
            return "INSERT without account_id"
        if re.search(r"\bSELECT\b", statement, re.IGNORECASE) and not _pins_account(
                _where(statement)):
            return "INSERT ... SELECT without an account_id condition"
        return None
    if verb in ("SELECT", "UPDATE", "DELETE", "WITH"):
        for table, on in _JOIN_ON.findall(statement):
            if table in TENANT_TABLES and "account_id" not in on:
                return f"JOIN {table} without account_id in ON"
        if not _pins_account(_where(statement)):
            return f"{verb} without an account_id condition"
        return None
    return None
