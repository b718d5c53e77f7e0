"""The pages people see: sign in, consent, their account."""

from __future__ import annotations

import hashlib
import time

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from .. import audit
from ..models import User, db
from ..oauth import authorize, interaction, logout
from ..oauth.claims import USER_SCOPES
from . import codes, devices, identifiers, lockout, refusals, sessions
from .forms import CodeForm, ConfirmForm, LoginForm
from .login import check_password

bp = Blueprint("auth", __name__)


@bp.route("/")
def home():
    return render_template("home.html", session=sessions.current())


@bp.route("/login", methods=["GET", "POST"])
def login():
    challenge = request.values.get("login_challenge") or None
    pending = interaction.get(challenge) if challenge else None
    if challenge and pending is None:
        # Expired (the expired page), or another browser's request: it starts over here.
        return authorize.resume(challenge)
    client = interaction.client_of(pending) if pending else None
    form = LoginForm()
    if request.method == "GET":
        form.login_challenge.data = challenge
        if pending:
            form.nid.data = pending.login_hint[:20]
    error = None
    if form.validate_on_submit():
        result = check_password(form.nid.data, form.password.data, form.account_type.data)
        if result.denial is not None:
            return refusals.page(result.denial)
        if result.user is not None:
            return _send_sign_in_code(result.user, challenge)
        # One message for unknown accounts and wrong passwords: nobody learns which NIDs exist.
        error = _("The identifier or the password is wrong.")
        typed = identifiers.normalize(form.nid.data)
        if identifiers.is_valid_nid(typed) and not identifiers.nid_check_letter_matches(typed):
            # Depends only on what was typed, never on whether an account exists.
            error += " " + _("Check your NID: its last letter does not match (a typo?).")
    status = 200 if request.method == "GET" or (form.errors == {} and error is None) else 400
    return render_template("login.html", form=form, client=client, error=error), status


def _send_sign_in_code(user: User, challenge: str | None):
    return codes.begin_for_account(
        "login",
        user,
        login_challenge=challenge,
        # Binds the second factor to the password that passed the first.
        data={"password_stamp": _password_stamp(user)},
    )


def _password_stamp(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def sign_in_message() -> tuple[str, str]:
    """(text, subject) of a sign-in code, in the page's language."""
    site = current_app.config["SITE_NAME"]
    text = _(
        "Your %(site)s sign-in code is {code}. It expires in {minutes} minutes. "
        "Never share it with anyone.",
        site=site,
    )
    return text, _("Your %(site)s sign-in code", site=site)


@bp.route("/code", methods=["GET", "POST"])
def code():
    """The one-time code page of every transaction (sign-in, password change, recovery, ...)."""
    transaction = codes.current()
    if transaction is None or not transaction.steps:
        return render_template("code_ended.html"), 400
    form = CodeForm()
    message = None
    if form.validate_on_submit():
        result = codes.check_code(transaction, form.otp.data)
        if result is codes.Check.OK:
            return codes.complete(transaction)
        if result is codes.Check.ENDED:
            return render_template("code_ended.html", too_many=True), 400
        if result is codes.Check.LOCKED:
            return _locked_by_codes(transaction)
        message = {
            codes.Check.EXPIRED: _("The code has expired. Send yourself a new code."),
            codes.Check.NOT_SENT: _(
                "We could not send you a code, so there is none to enter. Send yourself a new code."
            ),
        }.get(result, _("The code is wrong. Check it and try again."))
    status = 400 if message or form.errors else 200
    return render_template(
        "code.html", form=form, transaction=transaction, message=message, resend_form=ConfirmForm()
    ), status


@bp.route("/code/resend", methods=["POST"])
def code_resend():
    transaction = codes.current()
    form = ConfirmForm()
    if transaction is None or not transaction.steps or not form.validate_on_submit():
        return render_template("code_ended.html"), 400
    outcome = codes.resend(transaction)
    flash(
        {
            codes.Resend.SENT: _("A new code has been sent. The previous one no longer works."),
            codes.Resend.FAILED: _("We could not send the code. Try again in a moment."),
            codes.Resend.COOLDOWN: _("Please wait before asking for another code."),
            codes.Resend.EXHAUSTED: _("No more codes can be sent for this request."),
        }[outcome]
    )
    return redirect(url_for("auth.code"), code=303)


def _locked_by_codes(transaction: codes.Transaction):
    """Too many wrong codes for the account: it is locked, and a session of that account in
    this browser (a stolen one, changing the contacts) ends with it."""
    session = sessions.current()
    if session is not None and session.user_id == transaction.user_id:
        logout.sign_out(session)
    lock = lockout.lock_of(transaction.kind, transaction.identifier)
    until = lock.until if lock else time.time() + current_app.config["LOCKOUT_DURATION"]
    return refusals.page(lockout.Denial(lockout.Refusal.LOCKED, until, lock))


@codes.on_complete("login", message=sign_in_message)
def complete_sign_in(transaction: codes.Transaction):
    """Both factors passed: start the single sign-on session."""
    config = current_app.config
    user = db.session.get(User, transaction.user_id)
    if user is None or user.disabled or transaction.data["password_stamp"] != _password_stamp(user):
        # The password changed (or the account went) between the two factors.
        codes.end()
        return render_template("code_ended.html"), 400
    by_sms = "sms" in transaction.data.get("verified_channels", [])
    # docs/domain.md, NIST SP 800-63B: a code that reached the phone by SMS is "substantial"; one
    # by e-mail only is less.
    acr = config["ACR_SUBSTANTIAL"] if by_sms else config["ACR_LOW"]
    amr = ["pwd", "otp", "sms", "mfa"] if by_sms else ["pwd", "otp", "mail"]
    session = sessions.start(user, acr=acr, amr=amr)
    # This browser may try even while others lock the account (idp.auth.devices).
    devices.remember(user.kind, user.identifier)
    codes.end()
    audit.record("login", "ok", account=user.identifier, kind=user.kind, acr=acr, amr=amr)
    pending = interaction.get(transaction.login_challenge)
    if pending is not None:
        pending = interaction.accept_login(pending, session)
        return redirect(authorize.continue_url(pending.challenge), code=303)
    return redirect(url_for("account.overview"), code=303)


@bp.route("/consent", methods=["GET", "POST"])
def consent():
    challenge = request.values.get("consent_challenge", "")
    pending = interaction.get(challenge)
    session = sessions.current()
    if pending is None or session is None or pending.user_id != session.user_id:
        # Expired (the expired page); another browser's request, or another person signed in
        # here since: the protocol decides again, and whoever is here answers for themselves.
        return authorize.resume(challenge)
    client = interaction.client_of(pending)
    if client is None:
        return authorize.expired_page()
    scopes = pending.scopes
    form = ConfirmForm()
    if form.validate_on_submit():
        user = db.session.get(User, session.user_id)
        if request.form.get("decision") != "allow":
            interaction.reject(pending, user)
            return authorize.deny(pending)
        interaction.accept_consent(pending, user, client, scopes)
        return redirect(authorize.continue_url(pending.challenge))
    personal = [s for s in scopes if s in USER_SCOPES]
    other = [s for s in scopes if s not in USER_SCOPES]
    return render_template(
        "consent.html",
        form=form,
        client=client,
        challenge=challenge,
        personal_scopes=personal,
        other_scopes=other,
    )
