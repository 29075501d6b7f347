"""Tell an account's contact that one of its webhook endpoints was disabled (stdlib SMTP)."""

from __future__ import annotations

from email.message import EmailMessage

from routekeeper.core.mail import deliver
from routekeeper.core.timefmt import format_ts
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.settings import MailSettings


def disabled_message(
    endpoint: WebhookEndpoint, *, sender: str, recipient: str, public_url: str
) -> EmailMessage:
    """The email announcing that ``endpoint`` was disabled, and how to bring it back."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"Webhook endpoint disabled: {endpoint.url}"
    base = public_url.rstrip("/")
    message.set_content(
        f"Routekeeper disabled the webhook endpoint {endpoint.url}\n"
        f"(id {endpoint.id}) at {format_ts(endpoint.disabled_at)}.\n\n"
        f"Reason: {endpoint.disabled_reason}\n\n"
        "No events are sent to it until it is enabled again:\n"
        f"  PATCH {base}/webhooks/endpoints/{endpoint.id}  {{\"enabled\": true}}\n"
        "Then send what it missed:\n"
        f"  POST {base}/webhooks/endpoints/{endpoint.id}/replay  "
        f"{{\"since\": \"{format_ts(endpoint.failing_since)}\", \"only_failed\": true}}\n"
    )
    return message


def send(settings: MailSettings, message: EmailMessage) -> None:
    """Send one message through the configured SMTP server (``settings.host`` must be set)."""
    deliver(settings, message)
