"""A route's orders as an upload sees them: plain rows, ORM objects only where needed.

Most uploads only move ETAs and risks: those are read from plain rows and written back with
one bulk UPDATE. The ORM objects (for timeline entries, webhooks, arrival and completion
fields) are loaded one by one, for the few orders an upload has an event for.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.models.route import Route, new_orders_tag
from routekeeper.tracking import repository
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import OrderTrack, TrackedOrder


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


_ORDER_ROW_FIELDS = tuple(field.name for field in fields(OrderRow))


def order_row(order: Order) -> OrderRow:
    """An order object's values as the row tracking reads."""
    return OrderRow(*(getattr(order, name) for name in _ORDER_ROW_FIELDS))


class TrackingWrites:
    """Estimate and risk updates of the orders of several routes, written in one statement.

    The processor feeds a group of routes in one transaction; one bulk UPDATE per route was a
    tenth of its time, mostly SQLAlchemy's per-statement work rather than the rows
    (``repository.update_order_tracking``).
    """

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Queue order updates (``account_id``, ``id`` and the columns to set)."""
        self._rows.extend(rows)

    def write(self, session: Session) -> None:
        """Write the queued updates (before anything reads those orders again)."""
        if self._rows:
            repository.update_order_tracking(session, self._rows)
            self._rows = []


class RouteOrders:
    """The orders of one route during one transaction."""

    def __init__(self, session: Session, route: Route,
                 rows: Sequence[tuple[Any, ...]] | None = None,
                 writes: TrackingWrites | None = None, *,
                 kept: KeptOrders | None = None) -> None:
        """The route's orders (in sequence) as rows: ``kept`` when the caller holds them
        from an earlier transaction (:class:`ResidentOrders`), ``rows`` when it read them
        already (``repository.order_rows_of_routes``), else read now. With ``writes``,
        :meth:`flush` queues its updates there for the caller to write."""
        self.session = session
        self.route = route
        self._writes = writes
        self.account_id = route.account_id
        self._quiet: dict[str, Quiet]
        if kept is not None:
            self.rows = list(kept.rows)
            self._tracked = kept.tracked
            self._quiet = kept.quiet
        else:
            if rows is None:
                rows = repository.route_order_rows(session, route)
            self.rows = [OrderRow(*values) for values in rows]
            self._tracked = {}
            self._quiet = {}
        self.by_id = {row.id: row for row in self.rows}
        self._orm: dict[str, Order] = {}
        self._updates: dict[str, dict[str, Any]] = {}
        # Whether this transaction took any of the orders as objects: for what only objects
        # change (arrival, exit and completion fields, timeline entries, webhooks, a switch).
        self.took_objects = False

    def tracked(self, row: OrderRow, current: TrackedOrder | None = None) -> TrackedOrder:
        """What the pipeline needs of an order (``routestate.tracked_order``), built once for
        as long as its destination, window and service time stay the same: parsing each
        order's geofence again on every batch was a twentieth of the processor's time.

        ``current``: the entry the route's state has for the order. When it is equal, it is
        the one returned and kept, and the row is kept as the latest one it matched: the
        next batch then finds both by identity (``sync_plan`` compares its plan with the
        state's, and rows read again or taken as objects carry new destination dicts;
        comparing them field by field on every batch was 6 % of the worker's time in a
        py-spy profile of 800 phones)."""
        kept = self._tracked.get(row.id)
        if kept is not None and _same_plan_fields(kept[0], row):
            entry = kept[1]
            if current is not None and current is not entry and current == entry:
                entry = current
            if kept[0] is not row or entry is not kept[1]:
                self._tracked[row.id] = (row, entry)
            return entry
        built = tracked_order(row)
        if current is not None and current == built:
            built = current
        self._tracked[row.id] = (row, built)
        return built

    def kept(self) -> KeptOrders:
        """The rows as this transaction leaves them, to be kept once it committed: its
        estimate and risk updates applied (:meth:`flush` first), and the orders it took as
        objects read off those objects, which hold what their flush writes.

        Keeping the rows after an event too (rather than reading them again at the route's
        next batch) matters: the order heading the route gets a periodic ``eta`` about once
        a minute, and reading the rows after each was 6 % of the processor's time in a
        py-spy profile of 2,000 phones."""
        assert not self._updates
        rows = tuple(row if (taken := self._orm.get(row.id)) is None else order_row(taken)
                     for row in self.rows)
        return KeptOrders(rows, self._tracked, self._quiet)

    def quiet(self, track: OrderTrack, row: OrderRow, heading: bool, now: datetime) -> bool:
        """Whether syncing ``track`` to ``row`` (``apply._sync_order``) would change nothing:
        an earlier batch synced these very objects for the same heading without a change,
        and the time has not reached the instant from which its outcome depends on it.

        Most batches of a phone's fixes leave every order's track as it was (ETAs are
        evaluated every ``ETA_EVERY_S``; unchanged tracks are shared, not copied) and its
        row too: syncing each order of the route again only to find nothing to write was
        a seventh of the worker's time in a py-spy profile of 800 phones."""
        seen = self._quiet.get(row.id)
        return (seen is not None and seen.track is track and seen.row is row
                and seen.heading == heading and (seen.until is None or now < seen.until))

    def note_quiet(self, track: OrderTrack, row: OrderRow, heading: bool,
                   until: datetime | None) -> None:
        """Remember a sync of ``track`` to ``row`` that changed nothing (:meth:`quiet`)."""
        self._quiet[row.id] = Quiet(track, row, heading, until)

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
        them, when the caller writes them with other routes'); the rows follow, and the
        route gets a new ``orders_tag`` (models/orders_tag.py: another process's copy of
        these rows is stale now)."""
        if not self._updates:
            return
        rows = [{"account_id": self.account_id, "id": order_id, **values}
                for order_id, values in self._updates.items()]
        for index, row in enumerate(self.rows):
            values = self._updates.get(row.id)
            if values is not None:
                self.rows[index] = self.by_id[row.id] = replace(row, **values)
        self._updates.clear()
        self.route.orders_tag = new_orders_tag()
        if self._writes is not None:
            self._writes.add(rows)
        else:
            repository.update_order_tracking(self.session, rows)


def tracked_order(order: Order | OrderRow) -> TrackedOrder:
    """What the pipeline needs of an order: its geofence, window and service time."""
    return TrackedOrder(
        order_key=order.id,
        geofence=Geofence.from_destination(order.destination),
        scheduled_after=order.scheduled_after,
        scheduled_at=order.scheduled_at,
        service_s=float(order.expected_service_time or 0),
    )


def _same_plan_fields(old: OrderRow, new: OrderRow) -> bool:
    """Whether two rows of an order give it the same plan entry (``tracked_order``)."""
    return (old is new or (
        (old.destination is new.destination or old.destination == new.destination)
        and old.scheduled_after == new.scheduled_after
        and old.scheduled_at == new.scheduled_at
        and old.expected_service_time == new.expected_service_time))


@dataclass(frozen=True, slots=True)
class KeptOrders:
    """A route's order rows as a committed transaction left them, with their plan entries."""

    rows: tuple[OrderRow, ...]
    # By order id: the row a plan entry was built from, and the entry.
    tracked: dict[str, tuple[OrderRow, TrackedOrder]]
    # By order id: the order's last sync that changed nothing (RouteOrders.quiet).
    quiet: dict[str, Quiet] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Quiet:
    """A sync of an order's track to its row that changed nothing: the two objects, whether
    the order was the one the worker heads for, and until when the outcome holds whatever
    the time (None: for good)."""

    track: OrderTrack
    row: OrderRow
    heading: bool
    until: datetime | None


class ResidentOrders:
    """The order rows this process's processors read or wrote last, by route, each with the
    route's ``orders_tag`` as it was then; the ``capacity`` most recently kept are kept.

    Put only after the transaction committed. A batch whose route still carries the tag
    uses them instead of reading its orders: every write of an order gives the route a new
    tag (models/orders_tag.py).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[tuple[str, str], tuple[int, KeptOrders]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, route: Route) -> KeptOrders | None:
        """The rows kept for the route if its row still carries their tag."""
        tag = route.orders_tag
        if tag is None:
            return None
        with self._lock:
            kept = self._kept.get((route.account_id, route.route_handle))
        return kept[1] if kept is not None and kept[0] == tag else None

    def put(self, key: tuple[str, str], tag: int | None, kept: KeptOrders) -> None:
        """Keep a route's committed rows with the tag its row carries."""
        with self._lock:
            if tag is None:
                self._kept.pop(key, None)
                return
            self._kept[key] = (tag, kept)
            self._kept.move_to_end(key)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)
