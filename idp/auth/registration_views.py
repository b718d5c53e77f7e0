"""Registration of citizens and businesses, with phone and e-mail confirmed by code.

The form's answers wait in the registration's transaction (idp.auth.codes) while the person
confirms the phone by SMS (Albanian numbers only: others cannot receive one) and then the
e-mail. Only after the last code is the account written, so an account that exists is one whose
contacts were proved.

Nothing costly happens before the codes, so the form cannot be used to exhaust the provider:
starts are limited per source address (REGISTRATION_PER_ADDRESS_HOUR, idp.auth.address_limits),
and the password and the security answer are hashed (argon2id) only once every code is
confirmed. Until then they wait sealed (idp.security.seal): the ciphertext in the transaction,
its key in this browser's session cookie, so neither a leaked store nor a leaked cookie alone
reveals them. If every argon2id slot is taken at that moment, the transaction stays and the
person finishes with one click (`finish`) instead of confirming the codes again.

No enumeration: the form never looks at existing accounts. Only someone who has just proved the
phone and e-mail they typed learns that the identifier is taken, and its owner is told.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from .. import audit, security
from ..models import BUSINESS, CITIZEN, User, db
from ..web import overload
from . import address_limits, codes, lockout, notices, security_questions
from .login import find_account
from .registration_forms import (
    BusinessRegistrationForm,
    CitizenRegistrationForm,
    RegistrationForm,
    normalize_email,
    phone_e164,
)

bp = Blueprint("registration", __name__, url_prefix="/register")

PURPOSE = "register"
# The session cookie's entry holding the key of the sealed secrets of this browser's registration.
SEAL_KEY = "registration_key"
# A click on "Finish" holds the registration this long at most (two clicks create one account).
FINISH_CLAIM_TTL = 60


@bp.route("", methods=["GET", "POST"])
def citizen():
    return _register(CitizenRegistrationForm(), CITIZEN, "registration_citizen.html")


@bp.route("/business", methods=["GET", "POST"])
def business():
    return _register(BusinessRegistrationForm(), BUSINESS, "registration_business.html")


def _register(form: RegistrationForm, kind: str, template: str):
    if request.method == "POST":
        # An address refused for password spraying gets nothing here either, not even whether
        # its form was valid.
        blocked_until = lockout.address_blocked_until()
        if blocked_until is not None:
            return render_template("throttled.html", until=blocked_until), 429
    if form.validate_on_submit():
        limit = current_app.config["REGISTRATION_PER_ADDRESS_HOUR"]
        until = address_limits.exceeded("registration", limit)
        if until is not None:
            audit.record(
                "registration", "throttled", account=form.identifier, kind=kind, reason="address"
            )
            return address_limits.refused(until)
        return _confirm_contacts(form, kind)
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form), status


def _confirm_contacts(form: RegistrationForm, kind: str):
    """Keep the answers (the secrets sealed, not yet hashed) in a transaction and send the first
    code."""
    phone = phone_e164(form.phone.data)
    email = normalize_email(form.email.data)
    sealed, key = security.seal(
        {"password": form.password.data, "security_answer": form.security_answer.data}
    )
    pending = {
        **form.account_details(),
        "email": email,
        "phone": phone,
        "security_question": form.security_question.data,
        "sealed_secrets": sealed,
    }
    steps = [[{"channel": "email", "to": email}]]
    if codes.is_albanian(phone):
        steps.insert(0, [{"channel": "sms", "to": phone}])
    transaction = codes.start(PURPOSE, form.identifier, kind, steps, data=pending)
    session[SEAL_KEY] = key
    codes.send_code(transaction, *registration_message())
    return redirect(url_for("auth.code"), code=303)


def registration_message() -> tuple[str, str]:
    """(text, subject) of a registration code, in the page's language."""
    site = current_app.config["SITE_NAME"]
    text = _(
        "Your %(site)s registration code is {code}. It expires in {minutes} minutes. "
        "Never share it with anyone.",
        site=site,
    )
    return text, _("Confirm your registration with %(site)s", site=site)


@codes.on_complete(PURPOSE, message=registration_message)
def complete_registration(transaction: codes.Transaction):
    """Every code confirmed: hash the secrets and create the account, unless the identifier is
    already taken."""
    existing = find_account(transaction.identifier, transaction.kind)
    if existing is not None:
        _end()
        return _refuse_existing(existing, transaction)
    try:
        chosen = security.unseal(transaction.data["sealed_secrets"], session.get(SEAL_KEY))
    except security.SealBroken:
        # Only a tampered cookie or store gets here: the key and the transaction id travel
        # together in this browser's session.
        _end()
        audit.record(
            "registration",
            "failed",
            account=transaction.identifier,
            kind=transaction.kind,
            reason="sealed secrets do not open",
        )
        return render_template("code_ended.html"), 400
    try:
        password_hash = current_app.extensions["idp.passwords"].hash(chosen["password"])
        answer_hash = security_questions.hash_answer(chosen["security_answer"])
    except security.HashingBusy as busy:
        # The codes were confirmed: keep the transaction (it has no steps left) so that
        # "Finish the registration" retries only this step.
        return overload.hashing_busy(busy, finish_url=url_for("registration.finish"))
    _end()
    pending = transaction.data
    verified = pending.get("verified_channels", [])
    birthdate = pending["birthdate"]
    user = User(
        subject=security.generate_secret(16),
        kind=transaction.kind,
        identifier=transaction.identifier,
        password_hash=password_hash,
        given_name=pending["given_name"],
        family_name=pending["family_name"],
        birthdate=dt.date.fromisoformat(birthdate) if birthdate else None,
        business_name=pending["business_name"],
        email=pending["email"],
        email_verified="email" in verified,
        phone=pending["phone"],
        phone_verified="sms" in verified,
        security_question=pending["security_question"],
        security_answer_hash=answer_hash,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # The same identifier registered at the same moment by another browser.
        db.session.rollback()
        existing = find_account(transaction.identifier, transaction.kind)
        return _refuse_existing(existing, transaction)
    audit.record(
        "registration",
        "ok",
        account=user.identifier,
        kind=user.kind,
        phone_verified=user.phone_verified,
    )
    return render_template("registration_done.html", user=user)


@bp.route("/finish", methods=["POST"])
def finish():
    """Create the account of a registration whose codes were all confirmed in this browser but
    that met a provider too busy to hash (complete_registration)."""
    transaction = codes.current(PURPOSE)
    # Registration always has at least the e-mail step: no steps left means all confirmed.
    if transaction is None or transaction.steps:
        return render_template("code_ended.html"), 400
    # Of two clicks at once, one creates the account and the other is told the step is done.
    store = current_app.extensions["idp.store"]
    claim = f"registration-finish:{transaction.id}"
    if not store.add(claim, {}, FINISH_CLAIM_TTL):
        return render_template("code_ended.html"), 400
    try:
        return complete_registration(transaction)
    finally:
        store.delete(claim)


def _end() -> None:
    """The registration is over: its transaction and the key of its sealed secrets go."""
    codes.end()
    session.pop(SEAL_KEY, None)


def _refuse_existing(existing: User | None, transaction: codes.Transaction):
    audit.record(
        "registration",
        "refused",
        account=transaction.identifier,
        kind=transaction.kind,
        reason="exists",
    )
    if existing is not None:
        _notify_owner(existing)
    return render_template("registration_exists.html"), 409


def _notify_owner(user: User) -> None:
    """Tell the owner someone tried to register their identifier: it may be an attack."""
    config = current_app.config
    with force_locale(config["LOCALES"][0]):
        subject = _("A new %(site)s registration used your identifier", site=config["SITE_NAME"])
        text = _(
            "Someone confirmed a phone number and an e-mail address and tried to register a new "
            "%(site)s account with your identifier. No account was created and yours is "
            "unchanged. If this was you, sign in, or use 'Forgot your password?'. If it was "
            "not you, write to %(support)s.",
            site=config["SITE_NAME"],
            support=config["SUPPORT_EMAIL"],
        )
    notices.send(user, subject, text, "notice.registration_attempt")
