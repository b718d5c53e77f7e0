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


def account_locked(user: User, lock) -> None:
    """Tell the owner what locked the account (or its recovery), from where, until when, and how
    to get back in (`lock` is an idp.auth.lockout.Lock)."""
    config = current_app.config
    recovery_url = config["ISSUER"] + "/recovery"
    with force_locale(config["LOCALES"][0]):
        until = format_datetime(dt.datetime.fromtimestamp(lock.until, dt.UTC), "short")
        at = format_datetime(dt.datetime.fromtimestamp(lock.at, dt.UTC), "short")
        if lock.cause == "answer":
            subject = _(
                "Recovery of your %(site)s account has been locked", site=config["SITE_NAME"]
            )
            what = _(
                "Wrong answers to your security question were entered several times in a row "
                "on %(at)s from the network %(network)s, so recovering the account is locked "
                "until %(until)s. You can still sign in with your password.",
                at=at,
                network=lock.network,
                until=until,
            )
        else:
            subject = _("Your %(site)s account has been locked", site=config["SITE_NAME"])
            if lock.cause == "code":
                cause = _("Wrong one-time codes were entered several times in a row")
            else:
                cause = _("Wrong passwords were entered several times in a row")
            what = _(
                "%(cause)s on %(at)s from the network %(network)s, so your account is locked "
                "until %(until)s. Nobody has signed in. You can still sign in from a browser "
                "where you signed in before, or get back in now by choosing a new password at "
                "%(recovery)s (your security question and codes to your phone and e-mail).",
                cause=cause,
                at=at,
                network=lock.network,
                until=until,
                recovery=recovery_url,
            )
        text = (
            what
            + " "
            + _("If this was not you, write to %(support)s.", support=config["SUPPORT_EMAIL"])
        )
    send(user, subject, text, "notice.account_locked")
