"""Registration of citizens and businesses, with phone and e-mail confirmed by code.

The form's answers wait in the registration's transaction (idp.auth.codes), the password and the
security answer already hashed, while the person confirms the phone by SMS (Albanian numbers
only: others cannot receive one) and then the e-mail. Only after the last code is the account
written, so an account that exists is one whose contacts were proved.

No enumeration: the form never looks at existing accounts. Only someone who has just proved the
phone and e-mail they typed learns that the identifier is taken, and its owner is told.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from .. import audit, security
from ..models import BUSINESS, CITIZEN, User, db
from . import codes, lockout, notices, security_questions
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


@bp.route("", methods=["GET", "POST"])
def citizen():
    return _register(CitizenRegistrationForm(), CITIZEN, "registration_citizen.html")


@bp.route("/business", methods=["GET", "POST"])
def business():
    return _register(BusinessRegistrationForm(), BUSINESS, "registration_business.html")


def _register(form: RegistrationForm, kind: str, template: str):
    if request.method == "POST":
        # Checked before the form: validating it hashes a password, which costs.
        blocked_until = lockout.address_blocked_until()
        if blocked_until is not None:
            return render_template("throttled.html", until=blocked_until), 429
    if form.validate_on_submit():
        return _confirm_contacts(form, kind)
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form), status


def _confirm_contacts(form: RegistrationForm, kind: str):
    """Keep the answers (secrets hashed) in a transaction and send the first code."""
    passwords = current_app.extensions["idp.passwords"]
    phone = phone_e164(form.phone.data)
    email = normalize_email(form.email.data)
    pending = {
        **form.account_details(),
        "email": email,
        "phone": phone,
        "password_hash": passwords.hash(form.password.data),
        "security_question": form.security_question.data,
        "security_answer_hash": security_questions.hash_answer(form.security_answer.data),
    }
    steps = [[{"channel": "email", "to": email}]]
    if codes.is_albanian(phone):
        steps.insert(0, [{"channel": "sms", "to": phone}])
    transaction = codes.start(PURPOSE, form.identifier, kind, steps, data=pending)
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
    """Every code confirmed: create the account, unless the identifier is already taken."""
    codes.end()
    existing = find_account(transaction.identifier, transaction.kind)
    if existing is not None:
        return _refuse_existing(existing, transaction)
    pending = transaction.data
    verified = pending.get("verified_channels", [])
    birthdate = pending["birthdate"]
    user = User(
        subject=security.generate_secret(16),
        kind=transaction.kind,
        identifier=transaction.identifier,
        password_hash=pending["password_hash"],
        given_name=pending["given_name"],
        family_name=pending["family_name"],
        birthdate=dt.date.fromisoformat(birthdate) if birthdate else None,
        business_name=pending["business_name"],
        email=pending["email"],
        email_verified="email" in verified,
        phone=pending["phone"],
        phone_verified="sms" in verified,
        security_question=pending["security_question"],
        security_answer_hash=pending["security_answer_hash"],
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
