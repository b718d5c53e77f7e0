"""SMS through an HTTP gateway: one POST per message, the credential in a header.

Gateways differ only in field names, encoding and a few constant fields (a sender name, an
account id), so those are settings (SMS_GATEWAY_*) rather than one class per vendor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from idp.config import ConfigError
from idp.delivery import DeliveryError, Message

# Seconds to wait before retry n is `BACKOFF * n`: short, because someone is waiting for the code.
BACKOFF = 0.2


class SmsGatewaySender:
    """Posts each message to the gateway, retrying briefly when the gateway (not we) failed."""

    def __init__(
        self,
        url: str,
        *,
        credential: str = "",
        auth_header: str = "Authorization",
        payload_format: str = "json",
        to_field: str = "to",
        text_field: str = "text",
        extra_fields: Mapping[str, Any] | None = None,
        timeout: float = 5,
        retries: int = 1,
        backoff: float = BACKOFF,
    ) -> None:
        self.url = url
        self.payload_format = payload_format
        self.to_field = to_field
        self.text_field = text_field
        self.extra_fields = dict(extra_fields or {})
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        # One session per sender: the TLS connection to the gateway is kept and reused.
        self.session = requests.Session()
        if credential:
            self.session.headers[auth_header] = credential

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmsGatewaySender:
        return cls(
            config["SMS_GATEWAY_URL"],
            credential=config["SMS_GATEWAY_CREDENTIAL"],
            auth_header=config["SMS_GATEWAY_AUTH_HEADER"],
            payload_format=config["SMS_GATEWAY_FORMAT"],
            to_field=config["SMS_GATEWAY_TO_FIELD"],
            text_field=config["SMS_GATEWAY_TEXT_FIELD"],
            extra_fields=parse_extra_fields(config["SMS_GATEWAY_EXTRA_FIELDS"]),
            timeout=config["SMS_GATEWAY_TIMEOUT"],
            retries=config["SMS_GATEWAY_RETRIES"],
        )

    def send(self, message: Message) -> None:
        payload = {self.to_field: message.to, self.text_field: message.text, **self.extra_fields}
        body = {"json": payload} if self.payload_format == "json" else {"data": payload}
        attempts = 1 + max(0, self.retries)
        for attempt in range(1, attempts + 1):
            try:
                # No redirects: a gateway that moved is a configuration error, and following a
                # 302 would turn the POST into a GET that sends nothing.
                response = self.session.post(
                    self.url, **body, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                # Retrying a timeout may deliver the code twice; a duplicate beats no code.
                error = DeliveryError(f"SMS gateway unreachable: {_reason(exc)}")
            else:
                if 200 <= response.status_code < 300:
                    return
                error = DeliveryError(f"SMS gateway answered {response.status_code}")
                # 3xx/4xx: our request or configuration is wrong; sending again cannot help.
                if response.status_code < 500:
                    raise error
            if attempt < attempts:
                time.sleep(self.backoff * attempt)
        raise error


def parse_extra_fields(raw: str) -> dict[str, Any]:
    """The constant payload fields, a JSON object, read once at start-up."""
    try:
        fields = json.loads(raw)
    except (TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise ConfigError("IDP_SMS_GATEWAY_EXTRA_FIELDS must be a JSON object, e.g. '{}'")
    return fields


def _reason(exc: BaseException) -> str:
    """Why the gateway could not be reached, in words that hold no URL.

    str() of a requests error quotes the URL, and some gateways take their key in the query.
    """
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    # Walk down to the operating system's error ("Connection refused", "Name or service not
    # known") through requests' and urllib3's wrappers.
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__ or getattr(cause, "reason", None)
        if not isinstance(cause, BaseException):
            cause = None
    return type(exc).__name__
