"""E-mail through an SMTP server: plain-text UTF-8 messages, one connection per message.

A connection per message keeps the sender stateless (no idle connection to time out between
the few mails a login sends); the cost is one handshake per code, which SMTP relays expect.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from idp.delivery import DeliveryError, Message


class SmtpSender:
    """Sends each message over SMTP with STARTTLS, implicit TLS or (trusted relays only) none."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        sender: str = "",
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.sender = sender
        self.timeout = timeout
        # Production verifies the server against the system's trust store; tests pass a context
        # that trusts their own self-signed certificate.
        self.ssl_context = ssl_context or ssl.create_default_context()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSender:
        return cls(
            config["SMTP_HOST"],
            config["SMTP_PORT"],
            security=config["SMTP_SECURITY"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            sender=config["SMTP_FROM"],
            timeout=config["SMTP_TIMEOUT"],
        )

    def send(self, message: Message) -> None:
        mail = self.build(message)
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    # Raises SMTPNotSupportedError if the server does not offer STARTTLS:
                    # we never fall back to sending the code in the clear.
                    smtp.starttls(context=self.ssl_context)
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPNotSupportedError as exc:
            # smtplib's own words, e.g. "STARTTLS extension not supported by server."
            raise DeliveryError(f"mail server unsuitable: {exc}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"mail server refused the login: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({str(code) for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"mail server refused the message: {', '.join(codes)} for the recipient"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"mail server refused the message: {exc.smtp_code}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a read timeout (e.g. a server that never greets) as a disconnect.
            why = "timeout" if isinstance(exc.__context__, TimeoutError) else "connection closed"
            raise DeliveryError(f"mail server unreachable: {why}") from exc
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"mail server refused the message: {type(exc).__name__}") from exc
        except ssl.SSLError as exc:
            why = getattr(exc, "verify_message", None) or exc.reason
            raise DeliveryError(f"TLS with the mail server failed: {why}") from exc
        except TimeoutError as exc:
            raise DeliveryError("mail server unreachable: timeout") from exc
        except OSError as exc:
            raise DeliveryError(f"mail server unreachable: {exc.strerror or exc}") from exc

    def build(self, message: Message) -> EmailMessage:
        """The e-mail as it goes on the wire: headers people's mail clients expect, UTF-8 text."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate()
        # The sender's own domain: make_msgid() would otherwise look up this host's FQDN,
        # which can block on DNS and names an internal host.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        mail["Message-ID"] = make_msgid(domain=domain)
        mail.set_content(message.text, charset="utf-8")
        return mail

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)
