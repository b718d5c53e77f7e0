"""The account pages: what a signed-in person sees and manages about themselves.

Changing the password or a contact needs one-time codes (the generic code page, `auth.code`):
a stolen session alone must not be enough to take the account over.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update

from .. import audit
from ..models import AuditEvent, Client, Consent, Grant, User, db, now
from ..oauth import logout
from . import codes, lockout, notices, password_policy, refusals, sessions
from .account_forms import ContactChangeForm, PasswordChangeForm
from .forms import ConfirmForm

bp = Blueprint("account", __name__, url_prefix="/account")

RECENT_SIGN_INS = 10

# (token in the User-Agent header, what people call it); the first match wins, so the more
# specific come first (Edge and Opera also say "Chrome", Android also says "Linux").
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def _signed_in() -> tuple[sessions.Session, User] | tuple[None, None]:
    session = sessions.current()
    if session is None:
        return None, None
    return session, db.session.get(User, session.user_id)


@bp.route("")
def overview():
    session, user = _signed_in()
    if session is None:
        return redirect(url_for("auth.login"))
    consents = db.session.execute(
        select(Consent, Client)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user.id)
        .order_by(Client.name)
    ).all()
    return render_template(
        "account.html",
        user=user,
        session=session,
        masked_email=_mask("email", user.email),
        masked_phone=_mask("sms", user.phone),
        sign_ins=recent_sign_ins(user),
        consents=consents,
        form=ConfirmForm(),
    )


def _mask(channel: str, value: str | None) -> str | None:
    return codes.mask(codes.Destination(channel, value)) if value else None


def recent_sign_ins(user: User) -> list[dict]:
    """The newest sign-ins and wrong passwords of this account, for its owner to spot strangers."""
    events = db.session.execute(
        select(AuditEvent)
        .where(
            AuditEvent.account == user.identifier,
            # A self-employed person's NIPT is their NID: keep the two accounts' events apart.
            AuditEvent.detail["kind"].as_string() == user.kind,
            or_(
                and_(AuditEvent.event == "login", AuditEvent.outcome == "ok"),
                and_(AuditEvent.event == "login.password", AuditEvent.outcome == "failed"),
            ),
        )
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(RECENT_SIGN_INS)
    ).scalars()
    return [
        {
            "at": event.at,
            "succeeded": event.event == "login",
            "ip": event.ip or "",
            "device": short_user_agent(event.user_agent),
        }
        for event in events
    ]


def short_user_agent(user_agent: str | None) -> str:
    """A short name for a User-Agent header ("Firefox on Windows"), or its first word."""
    if not user_agent:
        return ""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or user_agent.split()[0][:40]


# -- password ------------------------------------------------------------------------------


@bp.route("/password", methods=["GET", "POST"])
def password():
    session, user = _signed_in()
    if session is None:
        return redirect(url_for("auth.login"))
    form = PasswordChangeForm()
    if form.validate_on_submit():
        refused = _refuse_if_locked(session, user)
        if refused is not None:
            return refused
        # The current password is a sign-in secret like any other: wrong ones count towards the
        # account lockout, so a stolen session cannot be used to guess it.
        attempt = lockout.begin(user.kind, user.identifier)
        if not attempt.allowed:
            audit.record("password.changed", attempt.denial.reason.value, account=user.identifier)
            return _refused(session, attempt.denial)
        passwords = current_app.extensions["idp.passwords"]
        try:
            matches = passwords.verify(user.password_hash, form.current_password.data)
        except BaseException:
            lockout.give_back(attempt)
            raise
        if not matches:
            audit.record(
                "password.changed", "failed", account=user.identifier, reason="wrong password"
            )
            denial = lockout.failed(attempt)
            if denial is not None:
                return _refused(session, denial)
            form.current_password.errors.append(_("The current password is wrong."))
        else:
            lockout.succeeded(attempt)
            problem = password_policy.check_configured(
                form.password.data, password_policy.personal_words(user)
            )
            if problem is None:
                return _send_password_code(user, passwords.hash(form.password.data))
            form.password.errors.append(str(problem.message))
    status = 400 if request.method == "POST" else 200
    return render_template("account_password.html", form=form, user=user), status


def _refused(session: sessions.Session, denial: lockout.Denial):
    """The attempt was not evaluated, or locked the account: a locked account's sign-in here
    ends too (it may be a stolen session guessing)."""
    if denial.reason is lockout.Refusal.LOCKED:
        logout.sign_out(session)
    return refusals.page(denial)


def _refuse_if_locked(session: sessions.Session, user: User):
    """Changes need codes or the password: none are taken for a locked account."""
    lock = lockout.lock_of(user.kind, user.identifier)
    if lock is None:
        return None
    return _refused(session, lockout.Denial(lockout.Refusal.LOCKED, lock.until, lock))


def _send_password_code(user: User, password_hash: str):
    # Only the new password's hash waits in the store, until its code is confirmed.
    return codes.begin_for_account("password_change", user, data={"password_hash": password_hash})


def password_change_message() -> tuple[str, str]:
    site = current_app.config["SITE_NAME"]
    text = _(
        "Your %(site)s code to change your password is {code}. It expires in {minutes} "
        "minutes. If you did not ask to change your password, do not share it with anyone.",
        site=site,
    )
    return text, _("Your %(site)s password change code", site=site)


@codes.on_complete("password_change", message=password_change_message)
def complete_password_change(transaction: codes.Transaction):
    """The code was right: the new password holds, and every other sign-in ends."""
    session, user = _transaction_owner(transaction)
    if session is None:
        return redirect(url_for("auth.login"), code=303)
    user.password_hash = transaction.data["password_hash"]
    # Every other sign-in ends with its tokens; this browser continues in a fresh session, and
    # what relying parties obtained here moves to it (a later sign-out here still ends it).
    sessions.end_everywhere(user, keep_tokens_of=session.sid)
    fresh = sessions.start(user, acr=session.acr, amr=session.amr)
    for client_id in session.clients:
        sessions.add_client(fresh, client_id)
    db.session.execute(update(Grant).where(Grant.sid == session.sid).values(sid=fresh.sid))
    db.session.commit()
    audit.record("password.changed", "ok", account=user.identifier)
    _notify(user, "notice.password_changed", _password_notice)
    flash(_("Your password has been changed. You were signed out everywhere else."))
    return redirect(url_for("account.overview"), code=303)


def _transaction_owner(
    transaction: codes.Transaction,
) -> tuple[sessions.Session, User] | tuple[None, None]:
    """This browser's session, if it still belongs to the person who began the transaction."""
    codes.end()
    session, user = _signed_in()
    if session is None or user.id != transaction.user_id:
        return None, None
    return session, user


def _notify(user: User, event: str, build: Callable[..., tuple[str, str]], *args) -> None:
    """E-mail the owner the notice `build(*args)` returns as (subject, text), in the site's first
    language: it is read later, away from this page."""
    with force_locale(current_app.config["LOCALES"][0]):
        subject, text = build(*args)
    notices.send(user, subject, text, event)


def _password_notice() -> tuple[str, str]:
    config = current_app.config
    text = _(
        "The password of your account was changed on %(when)s and you were signed out "
        "everywhere else. If this was not you, write to %(support)s at once.",
        when=_notice_time(),
        support=config["SUPPORT_EMAIL"],
    )
    return _("Your %(site)s password was changed", site=config["SITE_NAME"]), text


def _notice_time() -> str:
    return format_datetime(dt.datetime.fromtimestamp(time.time(), dt.UTC), "short")


# -- phone and e-mail ----------------------------------------------------------------------


@bp.route("/contact", methods=["GET", "POST"])
def contact():
    session, user = _signed_in()
    if session is None:
        return redirect(url_for("auth.login"))
    form = ContactChangeForm()
    if form.validate_on_submit():
        refused = _refuse_if_locked(session, user)
        if refused is not None:
            return refused
        new_phone = form.phone.data or None
        new_email = form.email.data or None
        if new_phone and new_phone == user.phone:
            form.phone.errors.append(_("This is already your phone number."))
        if new_email and new_email.lower() == (user.email or "").lower():
            form.email.errors.append(_("This is already your e-mail address."))
        if not form.errors:
            steps = contact_change_steps(user, new_phone, new_email)
            if not steps:
                return render_template("no_contact.html"), 403
            transaction = codes.start(
                "contact_change",
                user.identifier,
                user.kind,
                steps,
                user=user,
                data={"phone": new_phone, "email": new_email},
            )
            codes.send_code(transaction, *contact_change_message())
            return redirect(url_for("auth.code"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "account_contact.html",
        form=form,
        user=user,
        masked_email=_mask("email", user.email),
        masked_phone=_mask("sms", user.phone),
    ), status


def contact_change_steps(
    user: User, new_phone: str | None, new_email: str | None
) -> list[list[dict]]:
    """The codes of a contact change: first to the contact on record (the owner asks for the
    change), then to each new one (it reaches them). Empty if nothing on record can get a code.

    SMS goes only to Albanian numbers: a change from a foreign phone is asked for by e-mail, and a
    foreign new phone cannot be confirmed at all: the e-mail confirms the change instead and the
    number stays unverified.
    """
    old_phone = [_sms(user.phone, own=True)] if codes.is_albanian(user.phone) else []
    old_email = [_email(user.email, own=True)] if user.email else []
    on_record = []
    if new_phone:
        on_record += old_phone or old_email
    if new_email:
        on_record += old_email or old_phone
    on_record = [d for i, d in enumerate(on_record) if d not in on_record[:i]]
    if not on_record:
        return []
    steps = [on_record]
    if new_phone and codes.is_albanian(new_phone):
        steps.append([_sms(new_phone)])
    if new_email:
        steps.append([_email(new_email)])
    elif new_phone and not codes.is_albanian(new_phone) and old_email and on_record != old_email:
        steps.append(old_email)
    return steps


def _sms(phone: str, own: bool = False) -> dict:
    return {"channel": "sms", "to": phone, "own": own}


def _email(address: str, own: bool = False) -> dict:
    return {"channel": "email", "to": address, "own": own}


def contact_change_message() -> tuple[str, str]:
    site = current_app.config["SITE_NAME"]
    text = _(
        "Your %(site)s code to change your phone number or e-mail address is {code}. It expires "
        "in {minutes} minutes. If you did not ask for this change, do not share it with anyone.",
        site=site,
    )
    return text, _("Your %(site)s contact change code", site=site)


@codes.on_complete("contact_change", message=contact_change_message)
def complete_contact_change(transaction: codes.Transaction):
    """Every code was right: the new phone number or e-mail address replaces the old one."""
    session, user = _transaction_owner(transaction)
    if session is None:
        return redirect(url_for("auth.login"), code=303)
    new_phone, new_email = transaction.data["phone"], transaction.data["email"]
    # Sent before the change, so it reaches the address on record: if someone else made the
    # change, the owner hears of it where they still read.
    _notify(user, "notice.contact_changed", _contact_notice, new_phone, new_email)
    if new_phone:
        user.phone = new_phone
        # Only a code by SMS proves the number; a foreign one got none.
        user.phone_verified = codes.is_albanian(new_phone)
    if new_email:
        user.email = new_email
        user.email_verified = True
    db.session.commit()
    audit.record(
        "contact.changed",
        "ok",
        account=user.identifier,
        phone=bool(new_phone),
        email=bool(new_email),
        phone_verified=user.phone_verified,
    )
    flash(_("Your contact details have been changed."))
    return redirect(url_for("account.overview"), code=303)


def _contact_notice(new_phone: str | None, new_email: str | None) -> tuple[str, str]:
    config = current_app.config
    if new_email:
        change = _(
            "The e-mail address of your account was changed to %(email)s.",
            email=codes.mask(codes.Destination("email", new_email)),
        )
    else:
        change = _(
            "The mobile phone number of your account was changed to %(phone)s.",
            phone=codes.mask(codes.Destination("sms", new_phone)),
        )
    text = _(
        "%(change)s (%(when)s) If this was not you, write to %(support)s at once.",
        change=change,
        when=_notice_time(),
        support=config["SUPPORT_EMAIL"],
    )
    return _("Your %(site)s contact details were changed", site=config["SITE_NAME"]), text


# -- consents and sessions -----------------------------------------------------------------


@bp.route("/consents/<client_id>/revoke", methods=["POST"])
def revoke_consent(client_id: str):
    session = sessions.current()
    form = ConfirmForm()
    if session is None or not form.validate_on_submit():
        abort(400)
    user = db.session.get(User, session.user_id)
    db.session.execute(
        Consent.__table__.delete().where(Consent.user_id == user.id, Consent.client_id == client_id)
    )
    # Withdrawing consent also ends what the client obtained with it.
    db.session.execute(
        update(Grant)
        .where(Grant.user_id == user.id, Grant.client_id == client_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    db.session.commit()
    audit.record("consent", "revoked", account=user.identifier, client_id=client_id)
    return redirect(url_for("account.overview"))


@bp.route("/logout", methods=["POST"])
def sign_out():
    session = sessions.current()
    form = ConfirmForm()
    if session is not None and form.validate_on_submit():
        logout.sign_out(session)
    return render_template("logged_out.html")


@bp.route("/sessions/end-all", methods=["POST"])
def end_all_sessions():
    """Sign out everywhere: every session of the account, and every token issued in them."""
    session, user = _signed_in()
    if session is None:
        return redirect(url_for("auth.login"))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    sessions.end_everywhere(user)
    sessions.end(session)
    audit.record("sessions.ended", "ok", account=user.identifier)
    return render_template("logged_out.html")
