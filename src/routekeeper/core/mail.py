"""The one SMTP sender (stdlib ``smtplib``): the export emails and the webhook notices both
go through :func:`deliver`, with the security, login and timeout of the mail settings."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from routekeeper.settings import MailSecurity, MailSettings


def deliver(settings: MailSettings, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """Send ``message`` through the configured server; the recipients it refused (the rest
    got it). SMTP and connection errors propagate for the caller to judge."""
    if settings.host is None:
        raise ValueError("no SMTP host is configured")
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.security == MailSecurity.TLS:
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s,
                                context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    with smtp:
        if settings.security == MailSecurity.STARTTLS:
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        refused: dict[str, tuple[int, bytes]] = smtp.send_message(message)
    return refused
