"""Reminder channels, chosen by REMINDER_CHANNEL: logging (default), email, or an SMS gateway over HTTP."""

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger("lender.reminders")
QUIET_HOUR_CHANNELS = {"sms", "call"}


class ChannelError(Exception):
    """A transient delivery failure: recorded on the outbox row, retried with backoff."""


class LoggingChannel:
    def send(self, notification) -> None:
        logger.info("reminder %s to borrower %s: %s", notification.pk, notification.installment.loan.borrower_id,
                    notification.body)  # fmt: skip


class EmailChannel:
    def send(self, notification) -> None:
        address = notification.installment.loan.borrower.email
        if not address:
            raise ChannelError("the borrower has no email address")
        try:
            send_mail("Repayment reminder / 还款提醒", notification.body, settings.DEFAULT_FROM_EMAIL, [address])
        except OSError as e:
            raise ChannelError(f"email failed: {e}") from e


class SmsGatewayChannel:
    """POST {to, text, id} as JSON; the outbox id goes as Idempotency-Key so the gateway can drop repeats."""

    def send(self, notification) -> None:
        if not settings.SMS_GATEWAY_URL:
            raise ChannelError("SMS_GATEWAY_URL is not set")
        payload = json.dumps(
            {"to": notification.installment.loan.borrower.phone, "text": notification.body, "id": notification.pk}
        ).encode()
        request = urllib.request.Request(
            settings.SMS_GATEWAY_URL,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_GATEWAY_KEY}",
                "Idempotency-Key": f"reminder-{notification.pk}",
            },  # fmt: skip
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.SMS_GATEWAY_TIMEOUT) as response:
                if not 200 <= response.status < 300:
                    raise ChannelError(f"gateway answered {response.status}")
        except urllib.error.HTTPError as e:
            raise ChannelError(f"gateway answered {e.code}") from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise ChannelError(f"gateway unreachable: {e}") from e


CHANNELS = {"logging": LoggingChannel, "email": EmailChannel, "sms": SmsGatewayChannel}


def get(name: str):
    try:
        return CHANNELS[name]()
    except KeyError:
        raise ChannelError(f"unknown reminder channel {name!r}") from None
