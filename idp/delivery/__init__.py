"""Delivery of one-time codes and notices by SMS and e-mail.

One small interface, `Sender`; the concrete senders are chosen at start-up from configuration
(SMS_SENDER: gateway or outbox, MAIL_SENDER: smtp or outbox), so that the login code asks for
"the SMS sender" and never imports a backend. The outbox writes messages to a file instead of
delivering them, for development and tests; production refuses it (idp.config.validate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

CHANNELS = ("sms", "email")


@dataclass(frozen=True)
class Message:
    """One text for one person: a one-time code or a notice."""

    to: str  # E.164 phone number for "sms", e-mail address for "email"
    channel: str  # "sms" or "email"
    text: str
    subject: str = ""  # e-mail only

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {self.channel!r}")


class DeliveryError(Exception):
    """The message could not be handed over. str(error) says why, without secrets."""


class Sender(Protocol):
    def send(self, message: Message) -> None:
        """Hand the message over for delivery; raise DeliveryError if that fails."""


def create_senders(config: Mapping[str, Any], instance_path: str) -> dict[str, Sender]:
    """{"sms": ..., "email": ...} chosen from SMS_SENDER / MAIL_SENDER.

    The settings are assumed to have passed idp.config.validate.
    """
    # Imported here because each backend imports Message and DeliveryError from this module.
    from idp.delivery.mail import SmtpSender
    from idp.delivery.outbox import OutboxSender
    from idp.delivery.sms import SmsGatewaySender

    # Both channels share one outbox file (and one sender) so that it reads in sending order.
    outbox = OutboxSender(config["OUTBOX"] or Path(instance_path) / "outbox.jsonl")
    senders: dict[str, Sender] = {"sms": outbox, "email": outbox}
    if config["SMS_SENDER"] == "gateway":
        senders["sms"] = SmsGatewaySender.from_config(config)
    if config["MAIL_SENDER"] == "smtp":
        senders["email"] = SmtpSender.from_config(config)
    return senders
