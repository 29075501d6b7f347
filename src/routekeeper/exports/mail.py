"""The export email: its text and its delivery over SMTP (stdlib ``smtplib``)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from routekeeper.core.mail import deliver
from routekeeper.core.timefmt import format_ts
from routekeeper.settings import MailSettings


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What the email reports: a finished export's link, or why it failed."""

    export_id: str
    kind: str  # "orders" or "workers": what the file lists
    status: str
    rows: int
    url: str | None
    expires_at: datetime | None
    error: str | None


class PermanentMailError(Exception):
    """The server refused the message for good (5xx): retrying would not help."""


def build_message(outcome: ExportOutcome, *, sender: str, recipients: list[str]) -> EmailMessage:
    """The email for ``outcome``: the download link, or the error."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="routekeeper")
    what = "worker" if outcome.kind == "workers" else "order"
    if outcome.status == "completed":
        message["Subject"] = f"Your {what} export is ready"
        message.set_content(
            f"Your {what} export {outcome.export_id} is ready: {outcome.rows} "
            f"{outcome.kind}.\n\n"
            f"Download it (CSV, gzip-compressed) here:\n{outcome.url}\n\n"
            f"The link works until {format_ts(outcome.expires_at)}.\n"
        )
    else:
        message["Subject"] = f"Your {what} export failed"
        message.set_content(
            f"Your {what} export {outcome.export_id} could not be completed.\n\n"
            f"Reason: {outcome.error}\n\nPlease request a new export.\n"
        )
    return message


def send_message(message: EmailMessage, settings: MailSettings) -> dict[str, str]:
    """Deliver ``message``; returns the recipients the server refused (the rest got it).

    Raises PermanentMailError on a 5xx answer, and OSError or SMTPException for problems
    worth retrying (server down, timeouts, 4xx answers).
    """
    assert settings.host is not None
    try:
        refused = deliver(settings, message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise PermanentMailError(_describe_refused(exc.recipients)) from exc
        raise
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise PermanentMailError(f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
        raise
    return {address: f"{code} {_text(text)}" for address, (code, text) in refused.items()}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe_refused(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address}: {code} {_text(text)}"
                     for address, (code, text) in recipients.items())
