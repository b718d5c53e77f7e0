"""The pages people see: sign in, consent, their account."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select, update

from .. import audit
from ..models import Client, Consent, Grant, User, db, now
from ..oauth import authorize, logout
from ..oauth.claims import USER_SCOPES
from . import sessions
from .forms import ConfirmForm, LoginForm
from .login import authenticate

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
        user = authenticate(form.nid.data, form.password.data, form.account_type.data)
        if user is not None:
            acr = current_app.config["ACR_LOW"]
            session = sessions.start(user, acr=acr, amr=["pwd"])
            if challenge:
                authorize.update_pending(challenge, login_sid=session.sid)
                return redirect(authorize.continue_url(challenge))
            return redirect(url_for("auth.account"))
        # One message for unknown accounts and wrong passwords: nobody learns which NIDs exist.
        error = _("The identifier or the password is wrong.")
    status = 200 if request.method == "GET" or (form.errors == {} and error is None) else 400
    return render_template("login.html", form=form, client=client, error=error), status


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


@bp.route("/account")
def account():
    session = sessions.current()
    if session is None:
        return redirect(url_for("auth.login"))
    user = db.session.get(User, session.user_id)
    consents = db.session.execute(
        select(Consent, Client)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user.id)
        .order_by(Client.name)
    ).all()
    return render_template("account.html", user=user, consents=consents, form=ConfirmForm())


@bp.route("/account/consents/<client_id>/revoke", methods=["POST"])
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
    return redirect(url_for("auth.account"))


@bp.route("/account/logout", methods=["POST"])
def account_logout():
    session = sessions.current()
    form = ConfirmForm()
    if session is not None and form.validate_on_submit():
        logout.sign_out(session)
    return render_template("logged_out.html")
