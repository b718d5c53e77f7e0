"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) on Authlib's EndSessionEndpoint.

With a valid id_token_hint the session ends at once; without one the person confirms first
(§6: a bare logout link must not sign anyone out). Post-logout redirection happens only to a URI
registered exactly for the client, with `state` echoed.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import current_app, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import update
from wtforms.validators import ValidationError

from .. import audit
from ..auth import sessions
from ..models import Grant, User, db, now
from . import backchannel


def end_session():
    server = current_app.extensions["idp.oauth"]
    try:
        end_request = server.validate_endpoint_request("end_session")
        claims = end_request.id_token_claims
        if claims is not None and claims.get("iss") != current_app.config["ISSUER"]:
            raise InvalidRequestError("id_token_hint was not issued by this provider")
    except OAuth2Error as error:
        return render_template("error.html", error=error), 400
    confirmed = False
    if request.method == "POST" and request.form.get("confirm") == "yes":
        try:
            validate_csrf(request.form.get("csrf_token"))
            confirmed = True
        except (ValidationError, CSRFError):
            confirmed = False
    session = sessions.current()
    # §2, §6: a hint from another sign-in (someone else's ID token in a link) must not end
    # this browser's session unasked.
    foreign_hint = claims is not None and session is not None and claims.get("sid") != session.sid
    if (end_request.needs_confirmation or foreign_hint) and not confirmed:
        if session is None:
            return render_template("logged_out.html")
        return render_template(
            "logout_confirm.html", client=end_request.client, params=request.values
        )
    if end_request.needs_confirmation and end_request.redirect_uri is None:
        end_request.redirect_uri = _confirmed_redirect(end_request)
    response = server.create_endpoint_response("end_session", end_request)
    return response or render_template("logged_out.html")


def _confirmed_redirect(end_request) -> str | None:
    """After the person confirmed, a registered post_logout_redirect_uri of the named client is
    followed too (the URI was compared exactly; the person chose to leave)."""
    uri = request.form.get("post_logout_redirect_uri")
    client = end_request.client
    if not uri or client is None or uri not in client.post_logout_redirect_uris:
        return None
    state = request.form.get("state")
    return add_params_to_uri(uri, {"state": state}) if state else uri


def end_current_session(end_request) -> None:
    """End this browser's session, or the one named by the ID token's sid."""
    session = sessions.current()
    claims = end_request.id_token_claims or {}
    if session is None and claims.get("sid"):
        session = sessions.get(claims["sid"])
    if session is not None:
        sign_out(session, end_request.client.client_id if end_request.client else None)


def sign_out(session: sessions.Session, client_id: str | None = None) -> None:
    """End a sign-in: the session, and the tokens obtained through it."""
    db.session.execute(
        update(Grant)
        .where(Grant.sid == session.sid, Grant.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    user = db.session.get(User, session.user_id)
    if user is not None:
        backchannel.notify(user, session.sid, session.clients)
    sessions.end(session)
    audit.record("logout", "ok", account=user.identifier if user else None, client_id=client_id)
