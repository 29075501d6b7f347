"""The stored tracking state of a route (``route.track_state``) and its plan, kept in step with
the route's orders.

``route.track_state`` holds the pipeline's :class:`RouteTrackState` plus what only the
database-facing side needs: which devices fed the route (their positions make its polyline),
up to when and when its polyline was last extended, and whether its actuals are final.

Every write gives the row a new random ``track_state_tag``. The tracking processor keeps the
states it wrote decoded in memory (:class:`ResidentStates`) and takes one from there instead
of the row while the row still carries the same tag and tail: rebuilding 15-20 KB of JSON
into the pipeline's dataclasses was a tenth of the processor's time per batch. Whoever else
writes the state (another process, the periodic job, an order hook) changes the tag, so a
copy is never used after the row moved on.

**Checkpoint and tail.** Most batches of a phone's fixes change little beyond the state
itself: no event, no order object (arrival, exit, completion fields), no plan change; at
most the estimates and risks copied to the order rows. Writing the whole state for each of
them (dumping it, and PostgreSQL parsing and storing 15-20 KB of JSONB) was a third of the
processor's CPU per batch and most of PostgreSQL's. Such a batch appends its fixes to
``route.track_tail`` (a few hundred bytes each) instead; the state itself (the checkpoint)
is written by any batch with an event or an order object taken, once the tail holds
``TAIL_BATCHES`` batches or ``TAIL_FIXES`` fixes or its first is ``TAIL_SECONDS`` old, and
by every other writer.
The route's state is the checkpoint with its tail replayed (:func:`load`): visits and
actuals exactly as the processor had them, ETAs and risks as of the checkpoint (re-evaluated
at the next batch). The tail is written in the transaction that takes the fixes from the
inbox, so a fix is never lost or applied twice.
"""

from __future__ import annotations

import logging
import random
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.fixes import Fix, Instant, load_time
from routekeeper.tracking.engine.pipeline import (
    RouteTrackState,
    TrackedOrder,
    close_order,
    process_fixes,
    replace_orders,
)
from routekeeper.tracking.repository import RouteKey
from routekeeper.tracking.routeorders import OrderRow, tracked_order
from routekeeper.travel.straight import StraightLineModel

log = logging.getLogger(__name__)

# Orders the pipeline follows: those being served, and finished ones (closed, kept for their
# distance marks). Disabled orders leave the plan until they are enabled again.
_PLANNED_STATUSES = ("ongoing", "completed", "cancelled")
_FINISHED = ("completed", "cancelled")

# A replay computes no ETAs (``estimate=False``): its travel model is never asked.
_NO_TRAVEL = StraightLineModel()

# A tail is checkpointed once it holds this many batches, or its first is this old...
# (A phone sending one fix every second or two feeds its route a batch every 2-3 s under
# load, and reaches the age long before the count. A checkpoint dumps the whole state, about
# half a millisecond of the worker's CPU in a py-spy profile of 2,000 such phones; at 30 s
# rather than 15 there are half as many, and a tail of single fixes stays under 2 KB.)
TAIL_BATCHES = 20
TAIL_SECONDS = 30.0
# ...or once the next batch would take it past this many fixes. Each append rewrites the whole
# tail, so a tail of batches of 100 fixes grew by 15 KB a batch, soon several times the
# state it saves writing (a route batch of 100 fixes cost PostgreSQL 3.4 ms, mostly that).
TAIL_FIXES = 120


@dataclass
class StoredState:
    """``route.track_state``: the pipeline state and the bookkeeping around it."""

    pipeline: RouteTrackState
    devices: list[str] = field(default_factory=list)
    # The stored route polyline covers positions up to this instant; refreshed at polyline_at.
    polyline_until: Instant | None = None
    polyline_at: Instant | None = None
    finalized: bool = False


@dataclass(frozen=True)
class TailBatch:
    """One batch the processor ran after the checkpoint: its fixes, in the order it ran them,
    and the instant it ran them at (what the replay needs to come out the same)."""

    now: Instant
    fixes: tuple[Fix, ...]


def tail_length(route: Route) -> int:
    """How many batches the route's tail holds."""
    return len(route.track_tail or ())


def tail_due(route: Route, now: datetime, adding: int = 0) -> bool:
    """Whether the route's state is to be checkpointed rather than its tail grown (by a batch
    of ``adding`` fixes)."""
    tail = route.track_tail or []
    if adding > TAIL_FIXES:
        return True
    if not tail:
        return False
    if len(tail) >= TAIL_BATCHES:
        return True
    if adding + sum(len(batch["fixes"]) for batch in tail) > TAIL_FIXES:
        return True
    first = load_time(tail[0]["now"])
    return first is None or (now - first).total_seconds() >= TAIL_SECONDS


def append_tail(route: Route, fixes: Sequence[Fix], now: datetime) -> None:
    """Record a batch after the checkpoint instead of writing the whole state."""
    route.track_tail = [*(route.track_tail or []),
                        codec.dump(TailBatch(now=now, fixes=tuple(fixes)))]


def replay_tail(stored: StoredState, tail: Sequence[Any], settings: TrackingSettings
                ) -> StoredState:
    """The checkpoint ``stored`` with the tail's batches run through the pipeline again
    (screening, visits, actuals; not ETAs and risks, whose next evaluation follows anyway).

    The tail only holds batches that had no event, and the pipeline's visits depend on the
    fixes, their order and the batch's instant alone: the replay finds none either.
    """
    state = stored.pipeline
    for raw in tail:
        batch = codec.load(TailBatch, raw)
        state, events = process_fixes(state, batch.fixes, now=batch.now, travel=_NO_TRAVEL,
                                      settings=settings, prescreened=True, estimate=False)
        if events:
            log.warning("replaying a route's tail found %d events (dropped, first %s)",
                        len(events), events[0].value)
    stored.pipeline = state
    return stored


# Plans are made of ORM orders (hooks) or plain order rows (uploads).
PlannedOrder = Order | OrderRow
OrderT = TypeVar("OrderT", Order, OrderRow)


def finished_at(order: PlannedOrder) -> datetime | None:
    """When a finished order finished."""
    return order.completed_at if order.status == "completed" else order.cancelled_at


def route_key(route: Route) -> RouteKey:
    """A route's (account id, handle)."""
    return (route.account_id, route.route_handle)


def handle_share(route_handle: str) -> float:
    """A share of a period in [0, 1) fixed by a route's handle: where in each period a route's
    periodic work falls (its ETAs, its polyline), so a fleet's routes spread over it."""
    return zlib.crc32(route_handle.encode()) / 2**32


class ResidentStates:
    """The decoded states this process stored last, by route, each with its row's tag; the
    ``capacity`` most recently stored are kept.

    Put only after the transaction that stored a state committed (a rolled-back one must not
    be served). Handed out as copies: the pipeline state is immutable, the bookkeeping around
    it is not.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # By route: (the row's tag, its tail's length) and the state.
        self._states: OrderedDict[RouteKey, tuple[tuple[int, int], StoredState]] = \
            OrderedDict()
        self._lock = threading.Lock()

    def _current(self, route: Route) -> StoredState | None:
        """The state kept for the route if it is the one its row carries, checkpoint and tail
        (not a copy)."""
        tag = route.track_state_tag
        if tag is None:
            return None
        with self._lock:
            kept = self._states.get(route_key(route))
        if kept is None or kept[0] != (tag, tail_length(route)):
            return None
        return kept[1]

    def has(self, route: Route) -> bool:
        """Whether the state kept for the route is the one its row carries."""
        return self._current(route) is not None

    def get(self, route: Route) -> StoredState | None:
        """A copy of the route's state if the one kept is the one its row carries."""
        kept = self._current(route)
        return None if kept is None else replace(kept, devices=list(kept.devices))

    def put(self, key: RouteKey, version: tuple[int, int], stored: StoredState) -> None:
        """Keep a committed state with its row's ``(tag, tail length)`` (the caller does not
        change it any more)."""
        with self._lock:
            self._states[key] = (version, stored)
            self._states.move_to_end(key)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)


def load(route: Route, orders: Sequence[PlannedOrder], *, now: datetime,
         settings: TrackingSettings, resident: ResidentStates | None = None) -> StoredState:
    """The route's stored state, its checkpoint with its tail replayed (``resident``'s copy
    when it is the row's), started (from its open orders, in sequence) when missing."""
    kept = None if resident is None else resident.get(route)
    if kept is not None:
        return kept
    if route.track_state:
        stored = codec.load(StoredState, route.track_state)
        return replay_tail(stored, route.track_tail or (), settings)
    started_at = route.started_at or now
    plan = [tracked_order(o) for o in orders if o.status == "ongoing"]
    return StoredState(pipeline=RouteTrackState.start(plan, started_at=started_at))


def _built(order: PlannedOrder, current: TrackedOrder | None) -> TrackedOrder:
    """``sync_plan``'s plan entry for callers that keep none: built from the order."""
    return tracked_order(order)


def sync_plan(stored: StoredState, orders: Sequence[OrderT],
              tracked: Callable[[OrderT, TrackedOrder | None], TrackedOrder] = _built
              ) -> list[OrderT]:
    """Bring the plan in line with the route's orders; returns the orders closed just now.

    Re-sequenced, added and edited orders keep their progress (by order id); orders that left
    the route or were disabled leave the plan; finished orders are closed at their finishing
    time, after which they receive no events. ``tracked``: an order's plan entry, given the
    state's current one (``RouteOrders.tracked`` keeps them built).
    """
    state = stored.pipeline
    wanted = [o for o in orders if o.status in _PLANNED_STATUSES]
    current = {t.key: t.order for t in state.orders}
    # An order finished before the pipeline ever saw it has nothing to track.
    wanted = [o for o in wanted if o.status not in _FINISHED or o.id in current]
    plan = [tracked(o, current.get(o.id)) for o in wanted]
    if [t.order for t in state.orders] != plan:
        state = replace_orders(state, plan)
    closed: list[OrderT] = []
    for order in wanted:
        at = finished_at(order)
        if order.status in _FINISHED and at is not None and state.order(order.id).closed_at is None:
            state = close_order(state, order.id, at=at)
            closed.append(order)
    stored.pipeline = state
    return closed


def version(route: Route) -> tuple[int, int] | None:
    """The row's state as :class:`ResidentStates` knows it: (tag, tail length)."""
    tag = route.track_state_tag
    return None if tag is None else (tag, tail_length(route))


def store(route: Route, stored: StoredState) -> int:
    """Write the state back to the route row as its checkpoint (no tail); the row's new
    tag."""
    route.track_state = codec.dump(stored)
    route.track_tail = None
    # Random rather than counted: two writers never need to agree on the next number (the
    # module's generator is re-seeded in a forked child).
    route.track_state_tag = random.getrandbits(63)
    return route.track_state_tag
