"""Single sign-on sessions: a cookie in the browser, the session itself in the short-lived store.

The cookie holds ``<sid>.<secret>``. The store keeps the session under its public ``sid`` (the
`sid` claim of ID tokens, OIDC Front/Back-Channel Logout) with only a digest of the secret, so
neither a leaked store nor a leaked ID token lets anyone take over a session.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from flask import Response, current_app, g, request
from sqlalchemy import or_, select, update

from .. import security
from ..models import Grant, User, db
from ..oauth import backchannel

KEY = "sso:{}"


@dataclass
class Session:
    sid: str
    user_id: int
    auth_time: int
    acr: str
    amr: list[str]
    expires_at: int
    secret_digest: str = ""
    # When the session began, to the sub-second (auth_time is whole seconds, as OIDC wants).
    started_at: float = 0.0
    # Clients that received tokens in this session (for logout notifications).
    clients: list[str] = field(default_factory=list)


def _https() -> bool:
    return current_app.config["ISSUER"].startswith("https://")


def cookie_name() -> str:
    # The __Host- prefix pins the cookie to our origin, over https, for the whole path.
    return "__Host-idp_sso" if _https() else "idp_sso"


def start(user: User, acr: str, amr: list[str]) -> Session:
    """Start a session for user after a successful login; the cookie is set on the response.

    A session this browser already had ends first: a new login never continues an old session
    (session fixation), and one browser holds one sign-in.
    """
    previous = current()
    if previous is not None:
        current_app.extensions["idp.store"].delete(KEY.format(previous.sid))
    started_at = time.time()
    now = int(started_at)
    lifetime = current_app.config["SESSION_LIFETIME"]
    secret = security.generate_secret()
    session = Session(
        sid=security.generate_secret(16),
        user_id=user.id,
        auth_time=now,
        acr=acr,
        amr=amr,
        expires_at=now + lifetime,
        secret_digest=security.digest(secret),
        started_at=started_at,
    )
    _save(session)
    g.sso_cookie = (f"{session.sid}.{secret}", lifetime)
    g.sso_session = session
    return session


def current() -> Session | None:
    """The valid session of this browser, or None. Cached for the request."""
    if "sso_session" in g:
        return g.sso_session
    g.sso_session = _from_cookie(request.cookies.get(cookie_name(), ""))
    return g.sso_session


def _from_cookie(value: str) -> Session | None:
    sid, _, secret = value.partition(".")
    if not sid or not secret:
        return None
    session = get(sid)
    if session is None or not security.secret_matches(secret, session.secret_digest):
        return None
    user = db.session.get(User, session.user_id)
    if user is None or user.disabled or session.started_at < user.sessions_valid_after:
        return None
    return session


def get(sid: str) -> Session | None:
    data = current_app.extensions["idp.store"].get(KEY.format(sid))
    return Session(**data) if data else None


def add_client(session: Session, client_id: str) -> None:
    if client_id not in session.clients:
        session.clients.append(client_id)
        _save(session)


def end(session: Session) -> None:
    """End the session in the store and remove the cookie from this browser."""
    current_app.extensions["idp.store"].delete(KEY.format(session.sid))
    g.sso_cookie = ("", 0)
    g.sso_session = None


def end_everywhere(user: User, keep_tokens_of: str | None = None) -> None:
    """Every session of the account ends now, with the tokens obtained in them (except those of
    the session keep_tokens_of, which a password change hands on to a fresh session)."""
    user.sessions_valid_after = time.time()
    ending = [Grant.user_id == user.id, Grant.revoked_at.is_(None)]
    if keep_tokens_of is not None:
        ending.append(or_(Grant.sid.is_(None), Grant.sid != keep_tokens_of))
    # The relying parties of those sign-ins hear of it (back-channel logout, per session).
    signed_in: dict[str, set[str]] = {}
    for sid, client_id in db.session.execute(select(Grant.sid, Grant.client_id).where(*ending)):
        if sid:
            signed_in.setdefault(sid, set()).add(client_id)
    db.session.execute(update(Grant).where(*ending).values(revoked_at=int(time.time())))
    db.session.commit()
    for sid, client_ids in signed_in.items():
        backchannel.notify(user, sid, client_ids)


def _save(session: Session) -> None:
    ttl = max(1, session.expires_at - int(time.time()))
    current_app.extensions["idp.store"].put(KEY.format(session.sid), asdict(session), ttl)


def write_cookie(response: Response) -> Response:
    """after_request: set or clear the SSO cookie decided during the request."""
    if "sso_cookie" not in g:
        return response
    value, max_age = g.sso_cookie
    secure = _https()
    if value:
        # SameSite=Lax: sent on top-level navigations from relying parties (the authorization
        # request), never on their cross-site subrequests or form posts.
        response.set_cookie(
            cookie_name(),
            value,
            max_age=max_age,
            secure=secure,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    else:
        response.delete_cookie(
            cookie_name(), secure=secure, httponly=True, samesite="Lax", path="/"
        )
    return response
