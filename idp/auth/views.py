"""The pages people see: sign in, consent, their account."""

from __future__ import annotations

import hashlib

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
from sqlalchemy import select

from .. import audit
from ..models import Client, Consent, User, db, now
from ..oauth import authorize
from ..oauth.claims import USER_SCOPES
from . import codes, identifiers, lockout, sessions
from .forms import CodeForm, ConfirmForm, LoginForm
from .login import check_password

bp = Blueprint("auth", __name__)


@bp.route("/")
def home():
    return render_template("home.html", session=sessions.current())


@bp.route("/login", methods=["GET", "POST"])
def login():
    challenge = request.values.get("login_challenge") or None
    pending = authorize.load_pending(challenge) if challenge else None
    if challenge and pending is None:
        return authorize.expired_page()
    client = authorize.pending_client(pending) if pending else None
    form = LoginForm()
    if request.method == "GET":
        form.login_challenge.data = challenge
        if pending:
            form.nid.data = (pending["params"].get("login_hint") or [""])[0][:20]
    error = None
    if form.validate_on_submit():
        blocked_until = lockout.address_blocked_until()
        if blocked_until is not None:
            return render_template("throttled.html", until=blocked_until), 429
        result = check_password(form.nid.data, form.password.data, form.account_type.data)
        if result.locked_until is not None:
            return render_template("locked.html", until=result.locked_until), 403
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
        if result is codes.Check.EXPIRED:
            message = _("The code has expired. Send yourself a new code.")
        else:
            message = _("The code is wrong. Check it and try again.")
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
    if not codes.may_send(transaction):
        flash(_("Please wait before asking for another code."))
    else:
        failed = codes.send_code(transaction, *codes.message_for(transaction))
        if len(failed) == len(transaction.destinations):
            flash(_("We could not send the code. Try again in a moment."))
        else:
            flash(_("A new code has been sent. The previous one no longer works."))
    return redirect(url_for("auth.code"), code=303)


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
    # DOMAIN.md / NIST SP 800-63B: a code reached by SMS is "substantial"; by e-mail only, less.
    acr = config["ACR_SUBSTANTIAL"] if by_sms else config["ACR_LOW"]
    amr = ["pwd", "otp", "sms", "mfa"] if by_sms else ["pwd", "otp", "mail"]
    session = sessions.start(user, acr=acr, amr=amr)
    codes.end()
    audit.record("login", "ok", account=user.identifier, kind=user.kind, acr=acr, amr=amr)
    challenge = transaction.login_challenge
    if challenge and authorize.load_pending(challenge) is not None:
        authorize.update_pending(challenge, login_sid=session.sid)
        return redirect(authorize.continue_url(challenge), code=303)
    return redirect(url_for("account.overview"), code=303)


@bp.route("/consent", methods=["GET", "POST"])
def consent():
    challenge = request.values.get("consent_challenge", "")
    pending = authorize.load_pending(challenge)
    session = sessions.current()
    if pending is None:
        return authorize.expired_page()
    if session is None:
        return redirect(url_for("auth.login", login_challenge=challenge))
    client = authorize.pending_client(pending)
    if client is None:
        return authorize.expired_page()
    scopes = (pending["params"].get("scope") or [""])[0].split()
    form = ConfirmForm()
    if form.validate_on_submit():
        user = db.session.get(User, session.user_id)
        if request.form.get("decision") != "allow":
            audit.record("consent", "denied", account=user.identifier, client_id=client.client_id)
            return authorize.deny(challenge)
        _remember_consent(user, client, scopes)
        audit.record(
            "consent", "granted", account=user.identifier, client_id=client.client_id, scopes=scopes
        )
        authorize.update_pending(challenge, consented=True)
        return redirect(authorize.continue_url(challenge))
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


def _remember_consent(user: User, client: Client, scopes: list[str]) -> None:
    consent = db.session.execute(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.client_id)
    ).scalar()
    if consent is None:
        consent = Consent(user_id=user.id, client_id=client.client_id, scopes=[])
        db.session.add(consent)
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    consent.granted_at = now()
    db.session.commit()
