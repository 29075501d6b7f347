"""ORM tables, one module per table; importing this package registers them all."""

from routekeeper.models.account import Account
from routekeeper.models.job import Job
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.models.order_export import OrderExport as OrderExport
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker

__all__ = ["Account", "Job", "OpsGroup", "Order", "OrderEvent", "OutboxEvent", "Route", "Worker"]
