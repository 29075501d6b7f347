"""A route's orders as an upload sees them: plain rows, ORM objects only where needed.

Most uploads only move ETAs and risks: those are read from plain rows and written back with
one bulk UPDATE. The ORM objects (for timeline entries, webhooks, arrival and completion
fields) are loaded one by one, for the few orders an upload has an event for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.tracking import repository


@dataclass(frozen=True, slots=True)
class OrderRow:
    """The columns of an order that tracking reads on every upload."""

    id: str
    order_handle: str
    status: str
    destination: dict[str, Any]
    scheduled_after: datetime | None
    scheduled_at: datetime | None
    expected_service_time: int | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    arrived_at: datetime | None
    exited_at: datetime | None
    estimate: dict[str, Any] | None
    risks: dict[str, Any] | None
    risk_status: bool


class TrackingWrites:
    """Estimate and risk updates of the orders of several routes, written in one statement.

    The processor feeds a group of routes in one transaction; one bulk UPDATE per route was a
    tenth of its time, mostly SQLAlchemy's per-statement work rather than the rows.
    """

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Queue order updates (``account_id``, ``id`` and the columns to set)."""
        self._rows.extend(rows)

    def write(self, session: Session) -> None:
        """Write the queued updates (before anything reads those orders again)."""
        if self._rows:
            session.execute(update(Order), self._rows)
            self._rows = []


class RouteOrders:
    """The orders of one route during one transaction."""

    def __init__(self, session: Session, route: Route,
                 rows: Sequence[tuple[Any, ...]] | None = None,
                 writes: TrackingWrites | None = None) -> None:
        """The route's orders (in sequence) as rows: ``rows`` when the caller read them
        already (``repository.order_rows_of_routes``), else read now. With ``writes``,
        :meth:`flush` queues its updates there for the caller to write."""
        self.session = session
        self._writes = writes
        self.account_id = route.account_id
        if rows is None:
            rows = repository.route_order_rows(session, route)
        self.rows = [OrderRow(*values) for values in rows]
        self.by_id = {row.id: row for row in self.rows}
        self._orm: dict[str, Order] = {}
        self._updates: dict[str, dict[str, Any]] = {}
        # Whether this transaction took any of the orders as objects: for what only objects
        # change (arrival, exit and completion fields, timeline entries, webhooks, a switch).
        self.took_objects = False

    def orm(self, order_id: str) -> Order:
        """The ORM object of an order (loaded once; pending row updates are applied to it)."""
        order = self._orm.get(order_id)
        if order is None:
            self.took_objects = True
            found = self.session.get(Order, (self.account_id, order_id))
            if found is None:
                raise KeyError(order_id)
            order = found
            self._orm[order_id] = order
            for name, value in self._updates.pop(order_id, {}).items():
                setattr(order, name, value)
        return order

    def load(self, order_ids: Iterable[str]) -> None:
        """Load the ORM objects of these orders of the route in one query, ahead of
        :meth:`orm` (one query for a step's events instead of one for each)."""
        wanted = sorted({order_id for order_id in order_ids
                         if order_id in self.by_id and order_id not in self._orm})
        if not wanted:
            return
        self.took_objects = True
        # No autoflush: what this step changed is written once, after it (write_back).
        with self.session.no_autoflush:
            found = self.session.scalars(select(Order).where(
                Order.account_id == self.account_id, Order.id.in_(wanted))).all()
        for order in found:
            self._orm[order.id] = order
            for name, value in self._updates.pop(order.id, {}).items():
                setattr(order, name, value)

    def set_tracking(self, order_id: str, *, estimate: dict[str, Any] | None,
                     risks: dict[str, Any] | None, risk_status: bool) -> None:
        """Record an order's new estimate and risks (written by :meth:`flush`)."""
        values = {"estimate": estimate, "risks": risks, "risk_status": risk_status}
        order = self._orm.get(order_id)
        if order is not None:
            for name, value in values.items():
                if getattr(order, name) != value:
                    setattr(order, name, value)
        else:
            self._updates[order_id] = values

    def flush(self) -> None:
        """Write the recorded estimates and risks of orders not loaded as objects (queue
        them, when the caller writes them with other routes')."""
        if not self._updates:
            return
        rows = [{"account_id": self.account_id, "id": order_id, **values}
                for order_id, values in self._updates.items()]
        self._updates.clear()
        if self._writes is not None:
            self._writes.add(rows)
        else:
            self.session.execute(update(Order), rows)
