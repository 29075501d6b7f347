"""Order rules: creation with unique handles, lifecycle transitions, timeline and events.

Nothing here commits: the request's session commits the order, its timeline entries and
its outbox events together, or none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import (
    ApiError,
    CodedError,
    RequestValidationFailed,
    conflict,
    invalid_field,
    not_found,
)
from routekeeper.core.fields import MAX_ORDER_METADATA_BYTES, json_size
from routekeeper.core.ids import new_id, new_token
from routekeeper.core.pagination import cut_page, time_position
from routekeeper.core.signing_keys import SigningKeys
from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.geocoding.service import Geocoder
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.models.place import Place
from routekeeper.order_tasks.lists import check_tasks_lists, tasks_from_list
from routekeeper.orders import destinations, regions, repository
from routekeeper.orders.attachments import MAX_ORDER_ATTACHMENTS, stored_attachments
from routekeeper.orders.destinations import Resolved, Wanted
from routekeeper.orders.filters import OrderFilterFields
from routekeeper.orders.schemas import (
    WINDOW_ERROR,
    CustomEvents,
    DestinationIn,
    OrderIn,
    OrdersCreate,
    OrderUpdate,
    Reschedule,
    stored_windows,
)
from routekeeper.orders.states import TERMINAL, OrderAction, OrderStatus, can, target
from routekeeper.orders.wire import share_url
from routekeeper.settings import TrackingSettings
from routekeeper.tracking.service import on_order_finished
from routekeeper.webhooks.outbox import record_order_event
from routekeeper.workers.radius import outside_radius

# An order's columns that place it on a route; unplan() clears them all.
ROUTE_PLACEMENT = (
    "route_handle", "route_sequence", "plan_id", "worker_handle", "device_id", "estimate",
    "planned_at", "assigned_at",
)


def add_timeline(
    session: Session,
    order: Order,
    type: str,
    *,
    recorded_at: datetime | None = None,
    **data: Any,
) -> None:
    """Append an entry to an order's timeline."""
    now = utcnow()
    base = {
        "order_handle": order.order_handle,
        "fulfillment_attempt": order.fulfillment_attempt,
        "route_handle": order.route_handle,
        "order_type": order.type,
    }
    session.add(
        OrderEvent(
            account_id=order.account_id, id=new_id(), order_id=order.id, type=type,
            recorded_at=recorded_at or now, created_at=now, data={**base, **data},
        )
    )


def _ops_group(session: Session, account_id: str, handle: str) -> OpsGroup:
    group = session.get(OpsGroup, (account_id, handle))
    if group is None:
        raise CodedError(
            400, "ops_group_not_defined", f"Ops group {handle} does not exist",
            {"description": f"Ops group {handle} does not exist; create it with "
                            "POST /workers/ops-groups/ first.", "ops_group_handle": handle},
        )
    return group


def _duplicate(handles: list[str]) -> ApiError:
    shown = ", ".join(sorted(set(handles)))
    return conflict(
        "duplicate_resource", "Duplicate order handle found",
        {"description": "an incomplete order with this handle already exists; "
                        "complete or cancel it first", "order_handle": shown},
    )


def _same_row(order: Order, type: str, type_index: int) -> bool:
    return order.type == type and order.type_index == type_index


def _representative_point(destination: dict[str, Any]) -> tuple[float, float]:
    geometry = destination["geometry"]
    if geometry["type"] == "Point":
        return float(geometry["coordinates"][0]), float(geometry["coordinates"][1])
    ring = geometry["coordinates"][0][:-1]
    return (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))


def new_order(
    session: Session,
    account_id: str,
    item: OrderIn,
    *,
    plan_mode: str,
    group: OpsGroup,
    created_by: dict[str, Any] | None = None,
    earlier: list[Order] | None = None,
    resolved: Resolved | None = None,
) -> Order:
    """Insert one order attempt as ``unplanned`` (409 when the handle is still active).

    ``earlier``: the handle's rows when the caller has read them already. ``resolved``: the
    destination from :func:`routekeeper.orders.destinations.resolve` (needed unless the
    item's destination has its geometry).
    """
    if earlier is None:
        earlier = repository.find_attempts(session, account_id, item.order_handle)
    attempts = [o for o in earlier if _same_row(o, item.type.value, item.type_index)]
    if any(o.status not in TERMINAL for o in attempts):
        raise _duplicate([item.order_handle])
    now = utcnow()
    if resolved is None:
        resolved = Resolved(item.destination.stored())
    destination = resolved.destination
    lon, lat = _representative_point(destination)
    order = Order(
        account_id=account_id, id=new_id(), order_handle=item.order_handle,
        fulfillment_attempt=(max(o.fulfillment_attempt for o in attempts) + 1) if attempts else 0,
        type=item.type.value, type_index=item.type_index, status=OrderStatus.UNPLANNED.value,
        destination=destination, destination_lon=lon, destination_lat=lat,
        region=resolved.region,
        ops_group_handle=group.ops_group_handle, plan_mode=plan_mode,
        scheduled_after=item.scheduled_after, scheduled_at=item.scheduled_at,
        time_windows=stored_windows(item.time_windows),
        lateness_cost_per_minute=item.lateness_cost_per_minute,
        expected_service_time=(item.expected_service_time
                               if item.expected_service_time is not None
                               else resolved.expected_service_time),
        capacity_used=item.capacity_used,
        product_type=item.product_type or [],
        priority=item.priority.value if item.priority else None,
        metadata_=item.metadata or {}, attachments=[], risk_status=False,
        previous_fulfillments=[
            {"order_handle": o.order_handle, "fulfillment_attempt": o.fulfillment_attempt}
            for o in sorted(attempts, key=lambda o: o.fulfillment_attempt)
        ],
        timezone=group.timezone, tracking_id=new_token(12), created_at=now, updated_at=now,
        created_by=created_by or {"source": "api", "timestamp": format_ts(now)},
    )
    session.add(order)
    add_timeline(
        session, order, "order_created", recorded_at=now, metadata=order.metadata_,
        destination_address=destination.get("address"),
        destination_location=destination["geometry"],
    )
    if item.tasks_list is not None:
        tasks_from_list(session, order, item.tasks_list)
    return order


def check_new(
    session: Session, account_id: str, items: Sequence[OrderIn],
) -> None:
    """What a batch of new orders names beyond destinations exists (task definitions of
    ``tasks_list``); else a 422 naming each bad item, before anything is stored."""
    check_tasks_lists(session, account_id, [item.tasks_list for item in items])


def check_radius(group: OpsGroup, items: Sequence[OrderIn], resolved: Sequence[Resolved]) -> None:
    """With an enforced ``operations_radius``, every destination lies within it of the ops
    group home; else a 422 naming each order outside, before anything is stored."""
    errors: dict[str, list[str]] = {}
    for index, where in enumerate(resolved):
        if outside_radius(group, _representative_point(where.destination)):
            errors[f"orders.{index}.destination"] = [
                f"Outside the ops group's operations radius ({group.operations_radius} m from "
                f"its ops_group_home; enforce_operations_radius is on)."]
    if errors:
        raise RequestValidationFailed({"json": errors})


def resolve_destinations(
    session: Session, account_id: str, items: Sequence[OrderIn], *, geocoder: Geocoder | None,
) -> list[Resolved]:
    """Every item's destination, resolved before anything of the batch is stored."""
    return destinations.resolve(session, account_id, [
        Wanted(item.destination, f"orders.{index}.destination", item.order_handle)
        for index, item in enumerate(items)
    ], geocoder=geocoder)


def create_orders(
    session: Session, account_id: str, body: OrdersCreate, *, geocoder: Geocoder | None = None,
) -> list[Order]:
    """Store a batch of orders as ``unplanned`` (planning, when asked for, comes after).

    Destinations are resolved (places read, addresses geocoded) first: a batch with one
    unknown place or address stores nothing.
    """
    group = _ops_group(session, account_id, body.ops_group_handle or "default")
    seen: dict[tuple[str, str, int], int] = {}
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(body.orders):
        key = (item.order_handle, item.type.value, item.type_index)
        if key in seen:
            errors[f"orders.{index}.order_handle"] = [
                f"Repeats orders.{seen[key]} (same order_handle, type and type_index)."
            ]
        seen[key] = index
    if errors:
        raise RequestValidationFailed({"json": errors})
    check_new(session, account_id, body.orders)
    resolved = resolve_destinations(session, account_id, body.orders, geocoder=geocoder)
    check_radius(group, body.orders, resolved)
    try:
        # One read of every handle's earlier rows and one flush for the batch: a query per
        # order, each autoflushing the order before it, cost PostgreSQL about a second for
        # 1,000 orders (docs/benchmarks/plans.md).
        earlier = repository.attempts_by_handle(
            session, account_id, [item.order_handle for item in body.orders])
        with session.no_autoflush:
            orders = [
                new_order(session, account_id, item, plan_mode=body.plan_mode.value,
                          group=group, earlier=earlier[item.order_handle], resolved=where)
                for item, where in zip(body.orders, resolved, strict=True)
            ]
        session.flush()
    except IntegrityError as exc:
        # A concurrent request inserted the same active handle after our check: the
        # partial unique index refused ours (autoflush may raise it mid-batch).
        raise _duplicate([item.order_handle for item in body.orders]) from exc
    with_regions(session, account_id, orders, geocoder)
    return orders


def with_regions(
    session: Session, account_id: str, orders: list[Order], geocoder: Geocoder | None
) -> None:
    """Give new or moved orders their region (a job fills those the geocoder is slow on)."""
    if geocoder is not None:
        regions.assign_regions(session, account_id, orders, geocoder=geocoder,
                               wait_s=geocoder.settings.region_wait_s)


def timeline(session: Session, order: Order) -> list[OrderEvent]:
    """An order's timeline, oldest first (what its detail shows)."""
    return repository.timeline(session, order)


def find_order(
    session: Session,
    account_id: str,
    order_handle: str,
    *,
    type: str | None = None,
    type_index: int | None = None,
    fulfillment_attempt: int | None = None,
) -> Order:
    """Resolve a handle and its selectors to one row (the latest active attempt first)."""
    if "\x00" in order_handle:
        # No stored handle has one, and PostgreSQL refuses NUL in a parameter.
        raise not_found("Order", order_handle.replace("\x00", ""))
    rows = [
        o for o in repository.find_attempts(session, account_id, order_handle)
        if (type is None or o.type == type)
        and (type_index is None or o.type_index == type_index)
        and (fulfillment_attempt is None or o.fulfillment_attempt == fulfillment_attempt)
    ]
    if not rows:
        raise not_found("Order", order_handle)
    rows.sort(
        key=lambda o: (
            o.status in TERMINAL, -o.fulfillment_attempt, o.type != "drop", o.type_index
        )
    )
    return rows[0]


def _transition_error(order: Order, action: OrderAction) -> Exception:
    return conflict(
        "invalid_transition",
        f"Cannot {action.value} an order that is {order.status}",
        {"description": f"Order {order.order_handle} is {order.status}; "
                        f"{action.value} is not allowed from {order.status}.",
         "current_status": order.status, "action": action.value},
    )


def _require(order: Order, action: OrderAction) -> OrderStatus:
    status = OrderStatus(order.status)
    if not can(action, status):
        raise _transition_error(order, action)
    return status


def _merge_metadata(order: Order, metadata: dict[str, Any] | None) -> None:
    if metadata:
        merged = {**(order.metadata_ or {}), **metadata}
        # Each request's metadata is bounded; merges must not grow an order past the same.
        if json_size(merged) > MAX_ORDER_METADATA_BYTES:
            raise invalid_field("json", "metadata",
                                f"The order's metadata would exceed {MAX_ORDER_METADATA_BYTES} "
                                "bytes as JSON.")
        order.metadata_ = merged


def _elapsed_s(order: Order, now: datetime) -> int:
    # Time spent on the order: nothing until tracking started.
    if order.started_at is None:
        return 0
    return max(0, int((now - order.started_at).total_seconds()))


def _change_status(order: Order, action: OrderAction, metadata: dict[str, Any] | None,
                   stamp: str) -> datetime:
    """How a status change starts: it must be allowed, the metadata is merged, the status
    becomes the one ``action`` leads to and ``stamp`` (its time column) is set; that time."""
    status = _require(order, action)
    now = utcnow()
    _merge_metadata(order, metadata)
    order.status = target(
        action, status, started=order.started_at is not None,
        assigned=order.worker_handle is not None, on_route=order.route_handle is not None,
    ).value
    setattr(order, stamp, now)
    order.updated_at = now
    return now


def complete_order(
    session: Session, order: Order, *, metadata: dict[str, Any] | None = None,
    public_url: str, tracking: TrackingSettings | None = None,
) -> Order:
    """Complete an order that is on a route.

    A tracked order gets its actuals (deviation, ``completed_at_destination``, polyline...)
    here, before its timeline entry and ``completed`` event, which carry them.
    """
    now = _change_status(order, OrderAction.COMPLETE, metadata, "completed_at")
    if order.duration is None and order.started_at is not None:
        order.duration = _elapsed_s(order, now)
    on_order_finished(session, order, settings=tracking)
    add_timeline(session, order, "order_completed", recorded_at=now,
                 completed_at_destination=order.completed_at_destination,
                 deviation_from_destination=order.deviation_from_destination)
    record_order_event(
        session, order, "completed", share_url=_share(order, public_url), recorded_at=now,
        duration=order.duration or 0, distance=order.distance,
        deviation=order.deviation_from_destination,
        actual_service_time=order.actual_service_time,
    )
    return order


def cancel_order(
    session: Session, order: Order, *, metadata: dict[str, Any] | None = None,
    public_url: str, source: str = "api", tracking: TrackingSettings | None = None,
) -> Order:
    """Cancel any order that is not finished yet (a tracked one gets its actuals first, as in
    :func:`complete_order`)."""
    now = _change_status(order, OrderAction.CANCEL, metadata, "cancelled_at")
    order.cancellation_source = {"source": source, "timestamp": format_ts(now)}
    on_order_finished(session, order, settings=tracking)
    add_timeline(session, order, "order_cancelled", recorded_at=now,
                 cancellation_source=order.cancellation_source)
    record_order_event(
        session, order, "cancelled", share_url=_share(order, public_url), recorded_at=now,
        duration=_elapsed_s(order, now), distance=order.distance,
    )
    return order


# The two directions of one switch: the action, its time column, timeline entry and event.
_SWITCH = {
    False: (OrderAction.DISABLE, "disabled_at", "order_disabled", "disabled"),
    True: (OrderAction.ENABLE, "enabled_at", "order_enabled", "enabled"),
}


def set_enabled(
    session: Session, order: Order, *, enabled: bool, metadata: dict[str, Any] | None = None,
    public_url: str,
) -> Order:
    """Disable an order (it stays on its route, out of the route's ETAs) or bring a disabled
    one back into them."""
    action, stamp, entry, value = _SWITCH[enabled]
    now = _change_status(order, action, metadata, stamp)
    add_timeline(session, order, entry, recorded_at=now)
    record_order_event(session, order, value, share_url=_share(order, public_url),
                       recorded_at=now)
    return order


def unplan(order: Order) -> None:
    """Take an order off its route, back to ``unplanned``: the one place its route fields
    are cleared (the route aggregate re-sequences and re-estimates the route it left)."""
    order.status = OrderStatus.UNPLANNED.value
    for placement in ROUTE_PLACEMENT:
        setattr(order, placement, None)


def reschedule_order(
    session: Session, order: Order, body: Reschedule, *, public_url: str,
    tracking: TrackingSettings | None = None,
) -> Order:
    """Change an order's window: off its route if not started, else a new attempt."""
    status = _require(order, OrderAction.RESCHEDULE)
    now = utcnow()
    outcome = target(OrderAction.RESCHEDULE, status, started=order.started_at is not None)
    if outcome is OrderStatus.UNPLANNED:
        unplan(order)
        order.scheduled_at = body.scheduled_at
        order.scheduled_after = body.scheduled_after
        # The new window replaces the alternatives too (they may lie outside it).
        order.time_windows = None
        order.rescheduled_marked_at = now
        order.planning_failure_reason = None
        order.updated_at = now
        add_timeline(session, order, "order_rescheduled", recorded_at=now,
                     scheduled_at=format_ts(body.scheduled_at),
                     scheduled_after=format_ts(body.scheduled_after))
        record_order_event(session, order, "updated", recorded_at=now,
                           scheduled_at=format_ts(body.scheduled_at))
        return order
    # Already dispatched or started: cancel this attempt and open the next one.
    order.rescheduled_marked_at = now
    cancel_order(session, order, public_url=public_url, source="reschedule", tracking=tracking)
    session.flush()
    attempts = [
        o for o in repository.find_attempts(session, order.account_id, order.order_handle)
        if _same_row(o, order.type, order.type_index)
    ]
    successor = Order(
        account_id=order.account_id, id=new_id(), order_handle=order.order_handle,
        fulfillment_attempt=max(o.fulfillment_attempt for o in attempts) + 1,
        type=order.type, type_index=order.type_index, status=OrderStatus.UNPLANNED.value,
        destination=order.destination, destination_lon=order.destination_lon,
        destination_lat=order.destination_lat, region=order.region,
        ops_group_handle=order.ops_group_handle, plan_mode=order.plan_mode,
        scheduled_after=body.scheduled_after, scheduled_at=body.scheduled_at,
        lateness_cost_per_minute=order.lateness_cost_per_minute,
        expected_service_time=order.expected_service_time, capacity_used=order.capacity_used,
        product_type=order.product_type, priority=order.priority, metadata_=order.metadata_,
        attachments=[], risk_status=False,
        previous_fulfillments=[
            {"order_handle": o.order_handle, "fulfillment_attempt": o.fulfillment_attempt}
            for o in sorted(attempts, key=lambda o: o.fulfillment_attempt)
        ],
        timezone=order.timezone, tracking_id=new_token(12), created_at=now, updated_at=now,
        created_by={"source": "reschedule", "timestamp": format_ts(now)},
    )
    session.add(successor)
    add_timeline(session, successor, "order_created", recorded_at=now,
                 destination_location=order.destination.get("geometry"))
    session.flush()
    return successor


WINDOWS_OUTSIDE = "Time windows must lie within scheduled_after and scheduled_at."


def windows_within(order: Order) -> bool:
    """Whether the order's time windows lie within its scheduled_after..scheduled_at."""
    if not order.time_windows:
        return True
    first = parse_ts(order.time_windows[0]["after"])
    last = parse_ts(order.time_windows[-1]["before"])
    return not ((order.scheduled_after is not None and first < order.scheduled_after)
                or (order.scheduled_at is not None and last > order.scheduled_at))


def update_order(
    session: Session, account_id: str, order: Order, body: OrderUpdate, *, public_url: str,
    geocoder: Geocoder | None = None,
) -> Order:
    """Apply a PATCH; the destination may only change before tracking starts.

    Only the fields sent change. ``null`` clears the optional ones (scheduled_after,
    expected_service_time, priority, metadata, product_type) and leaves the rest.
    """
    _require(order, OrderAction.UPDATE)
    sent = body.model_fields_set
    now = utcnow()
    if body.destination is not None:
        _move_destination(session, account_id, order, body.destination, sent,
                          geocoder=geocoder)
    if body.ops_group_handle is not None:
        group = _ops_group(session, account_id, body.ops_group_handle)
        order.ops_group_handle = group.ops_group_handle
        # The without_tz filters read the order's own zone: it moves with the group.
        order.timezone = group.timezone
    _apply_fields(order, body, sent, now)
    if not sent:
        return order
    order.updated_at = now
    add_timeline(session, order, "order_updated", recorded_at=now, fields=sorted(sent))
    record_order_event(session, order, "updated", share_url=_share(order, public_url),
                       recorded_at=now)
    return order


def _move_destination(session: Session, account_id: str, order: Order,
                      destination: DestinationIn, sent: set[str], *,
                      geocoder: Geocoder | None) -> None:
    """A new destination (and the region and service time that come with it), only before
    tracking starts."""
    if order.started_at is not None:
        raise conflict(
            "invalid_transition",
            f"Cannot change the destination of an order that is {order.status}",
            {"description": "The destination can only change before tracking starts.",
             "current_status": order.status, "action": "update destination"},
        )
    [where] = destinations.resolve(
        session, account_id, [Wanted(destination, "destination", order.order_handle)],
        geocoder=geocoder)
    order.destination = where.destination
    order.destination_lon, order.destination_lat = _representative_point(order.destination)
    # A new destination may be in another region.
    order.region = where.region
    if "expected_service_time" not in sent and where.expected_service_time is not None:
        order.expected_service_time = where.expected_service_time
    with_regions(session, account_id, [order], geocoder)


def _apply_fields(order: Order, body: OrderUpdate, sent: set[str], now: datetime) -> None:
    """The PATCH's plain fields, then the checks that span them (window order, windows
    inside the window)."""
    if "metadata" in sent:
        order.metadata_ = body.metadata or {}
    if "product_type" in sent:
        order.product_type = body.product_type or []
    if "priority" in sent:
        order.priority = body.priority.value if body.priority else None
    for name in ("scheduled_after", "expected_service_time", "lateness_cost_per_minute"):
        if name in sent:
            setattr(order, name, getattr(body, name))
    for name in ("scheduled_at", "capacity_used"):
        if getattr(body, name) is not None:
            setattr(order, name, getattr(body, name))
    if (order.scheduled_after is not None and order.scheduled_at is not None
            and order.scheduled_after > order.scheduled_at):
        field = "scheduled_after" if "scheduled_after" in sent else "scheduled_at"
        raise invalid_field("json", field, WINDOW_ERROR)
    if "time_windows" in sent:
        order.time_windows = stored_windows(body.time_windows)
    if body.attachments:
        _attach(order, stored_attachments(body.attachments, recorded_at=now, source="update"),
                field="attachments")
    if not windows_within(order):
        field = "time_windows" if "time_windows" in sent else (
            "scheduled_after" if "scheduled_after" in sent else "scheduled_at")
        raise invalid_field("json", field, WINDOWS_OUTSIDE)


def _attach(order: Order, attachments: list[dict[str, Any]], *, field: str) -> None:
    """Append attachments to the order's (append-only, at most MAX_ORDER_ATTACHMENTS)."""
    kept = order.attachments or []
    if len(kept) + len(attachments) > MAX_ORDER_ATTACHMENTS:
        raise invalid_field("json", field, f"An order keeps at most {MAX_ORDER_ATTACHMENTS} "
                                           f"attachments; it has {len(kept)}.")
    # A new list, so that the JSON column sees the change.
    order.attachments = [*kept, *attachments]


def add_custom_events(session: Session, order: Order, body: CustomEvents) -> None:
    """Append custom events to an order's timeline; their attachments are also the order's."""
    now = utcnow()
    for index, event in enumerate(body.events):
        extra: dict[str, Any] = {"metadata": event.metadata, "address": event.address}
        if event.attachments:
            attachments = stored_attachments(event.attachments, recorded_at=now, source="event")
            _attach(order, attachments, field=f"events.{index}.attachments")
            extra["attachments"] = attachments
        if event.is_mocked is not None:
            extra["is_mocked"] = event.is_mocked
        if event.device_id is not None:
            extra["device_id"] = event.device_id
        if event.location is not None:
            extra["location"] = event.location.model_dump(mode="json")
        add_timeline(session, order, event.type, recorded_at=event.recorded_at, **extra)


def list_orders(
    session: Session, account_id: str, filters: OrderFilterFields, *, secret: SigningKeys
) -> tuple[list[Order], str | None]:
    """One page of filtered orders and the token of the next page (None at the end)."""
    fingerprint = filters.fingerprint()
    after = time_position(secret, filters.pagination_token, fingerprint)
    query = repository.filtered(session, account_id, filters)
    rows = repository.page(
        session, query, descending=filters.sort_direction.value == "desc", after=after,
        limit=filters.limit + 1,
    )
    # Full precision: rows written by other code may carry microseconds.
    return cut_page(rows, filters.limit, secret, fingerprint,
                    lambda last: [last.created_at.isoformat(), last.id])


def _share(order: Order, public_url: str) -> str | None:
    return share_url(order, public_url)


def orders_at_place(session: Session, account_id: str, place_handle: str) -> list[Order]:
    """The orders a place's move also moves: open, not yet under way, destined for it."""
    return [o for o in repository.open_at_place(session, account_id, place_handle)
            if o.started_at is None]


def follow_place(session: Session, orders: list[Order], place: Place, *, public_url: str,
                 geocoder: Geocoder | None) -> None:
    """Give ``orders`` the place's new location (``update_associated_orders``)."""
    now = utcnow()
    for order in orders:
        wanted = DestinationIn(place_handle=place.place_handle)
        [where] = destinations.resolve(session, order.account_id,
                                       [Wanted(wanted, "destination", order.order_handle)],
                                       geocoder=None)
        kept = {k: v for k, v in (order.destination or {}).items()
                if k not in ("geometry", "radius", "address")}
        order.destination = {**kept, **where.destination}
        order.destination_lon, order.destination_lat = _representative_point(order.destination)
        order.region = where.region
        order.updated_at = now
        add_timeline(session, order, "order_updated", recorded_at=now, fields=["destination"],
                     place_handle=place.place_handle)
        record_order_event(session, order, "updated", share_url=_share(order, public_url),
                           recorded_at=now)
    with_regions(session, orders[0].account_id if orders else "", orders, geocoder)
