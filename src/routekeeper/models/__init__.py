"""ORM tables, one module per table; importing this package registers them all."""

from routekeeper.models import orders_tag as orders_tag  # registers the route tag's listener
from routekeeper.models.account import Account
from routekeeper.models.device import Device
from routekeeper.models.estimated_route import EstimatedRoute as EstimatedRoute
from routekeeper.models.geocode_cache import GeocodeCache as GeocodeCache
from routekeeper.models.job import Job
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.models.order_export import OrderExport as OrderExport
from routekeeper.models.order_task import OrderTask as OrderTask
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.place import Place as Place
from routekeeper.models.place import PlaceHistory as PlaceHistory
from routekeeper.models.plan import Plan
from routekeeper.models.position import Position
from routekeeper.models.position_inbox import PositionInbox as PositionInbox
from routekeeper.models.rate_limit import RateLimitBucket as RateLimitBucket
from routekeeper.models.route import Route
from routekeeper.models.task_definition import TaskDefinition as TaskDefinition
from routekeeper.models.webhook_delivery import WebhookDelivery as WebhookDelivery
from routekeeper.models.webhook_endpoint import WebhookEndpoint as WebhookEndpoint
from routekeeper.models.worker import Worker

__all__ = [
    "Account",
    "Device",
    "Job",
    "OpsGroup",
    "Order",
    "OrderEvent",
    "OutboxEvent",
    "Plan",
    "Position",
    "Route",
    "Worker",
]
