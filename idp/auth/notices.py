"""Notices to account owners (locked account, password reset, ...), sent by e-mail after the
response: an owner's notice must not make a known account answer slower than an unknown one."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from flask import current_app, has_request_context
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _

from .. import audit
from ..delivery import DeliveryError, Message
from ..models import User

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="notices")


def send(user: User, subject: str, text: str, event: str) -> None:
    """E-mail a notice to the account owner (after the response), auditing the outcome."""
    if not user.email:
        return
    app = current_app._get_current_object()
    message = Message(to=user.email, channel="email", text=text, subject=subject)
    identifier = user.identifier

    def deliver() -> None:
        with app.app_context():
            try:
                app.extensions["idp.senders"]["email"].send(message)
            except DeliveryError as error:
                audit.record(event, "failed", account=identifier, reason=str(error))
            else:
                audit.record(event, "ok", account=identifier)

    if current_app.testing or not has_request_context():
        deliver()  # tests read the outbox right after the response
    else:
        _executor.submit(deliver)


def account_locked(user: User, locked_until: float) -> None:
    config = current_app.config
    when = dt.datetime.fromtimestamp(locked_until, dt.UTC)
    with force_locale(config["LOCALES"][0]):
        subject = _("Your %(site)s account has been locked", site=config["SITE_NAME"])
        text = _(
            "Wrong passwords or security answers were entered for your account several "
            "times, so it is locked until %(until)s. If this was not you, write to %(support)s.",
            until=format_datetime(when, "short"),
            support=config["SUPPORT_EMAIL"],
        )
    send(user, subject, text, "notice.account_locked")
