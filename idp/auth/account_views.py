"""The account pages: what a signed-in person sees and manages about themselves."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from sqlalchemy import select, update

from .. import audit
from ..models import Client, Consent, Grant, User, db, now
from ..oauth import logout
from . import sessions
from .forms import ConfirmForm

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("")
def overview():
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
