"""The relying party's side of OpenID Connect Back-Channel Logout 1.0.

The provider POSTs a signed logout token naming a session (`sid`) that has ended. Cookie-based
sessions cannot be reached from such a call, so the ended `sid`s are remembered in a small SQLite
file that every worker of the app reads, and each request whose sign-in belongs to an ended
session is signed out locally.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, jsonify, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .provider import SIGNATURE_ALGORITHMS

EVENT = "http://schemas.openid.net/event/backchannel-logout"
# How far a logout token's iat may lie in the past or future (clock skew, delivery retries).
MAX_AGE = 600


class LogoutTokenError(ValueError):
    """The logout token is not one this relying party may act on."""


class EndedSessions:
    """Provider session ids that have ended, kept for a day (longer than any sign-in here)."""

    def __init__(self, path: Path, keep: int = 86400):
        self.path = path
        self.keep = keep
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS ended (sid TEXT PRIMARY KEY, until REAL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def add(self, sid: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM ended WHERE until < ?", (time.time(),))
            db.execute("INSERT OR REPLACE INTO ended VALUES (?, ?)", (sid, time.time() + self.keep))

    def __contains__(self, sid: str) -> bool:
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM ended WHERE sid = ? AND until > ?", (sid, time.time())
            ).fetchone()
        return row is not None


def validate_logout_token(
    token: str, issuer: str, client_id: str, load_jwks: Callable[[bool], dict]
) -> dict:
    """The claims of a valid logout token (Back-Channel Logout §2.6), else LogoutTokenError."""
    try:
        decoded = _decode(token, load_jwks(False))
    except JoseError:
        # An unknown kid may mean the provider rotated its keys: fetch them once more.
        try:
            decoded = _decode(token, load_jwks(True))
        except (JoseError, ValueError) as exc:
            raise LogoutTokenError(f"signature: {exc}") from None
    except ValueError as exc:
        raise LogoutTokenError(f"malformed: {exc}") from None
    claims = decoded.claims
    audience = claims.get("aud")
    audience = [audience] if isinstance(audience, str) else (audience or [])
    now = time.time()
    if decoded.header.get("typ") != "logout+jwt":
        raise LogoutTokenError("typ must be logout+jwt")
    if claims.get("iss") != issuer or client_id not in audience:
        raise LogoutTokenError("wrong issuer or audience")
    if not isinstance(claims.get("iat"), int) or abs(now - claims["iat"]) > MAX_AGE:
        raise LogoutTokenError("iat missing or too far from now")
    if isinstance(claims.get("exp"), int) and claims["exp"] < now:
        raise LogoutTokenError("expired")
    if not isinstance(claims.get("events"), dict) or not isinstance(
        claims["events"].get(EVENT), dict
    ):
        raise LogoutTokenError("no back-channel logout event")
    if "nonce" in claims or not claims.get("jti"):
        raise LogoutTokenError("nonce present or jti missing")
    if not claims.get("sid"):
        # We ask for sid (backchannel_logout_session_required); sub alone is not enough here.
        raise LogoutTokenError("sid missing")
    return claims


def _decode(token: str, jwks: dict):
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=SIGNATURE_ALGORITHMS)


def init_app(
    app: Flask,
    *,
    issuer: Callable[[], str],
    client_id: Callable[[], str],
    load_jwks: Callable[[bool], dict],
    current_sid: Callable[[], str | None],
    path: Path,
) -> EndedSessions:
    """Add POST /backchannel-logout and sign out requests whose provider session has ended."""
    ended = EndedSessions(path)

    @app.post("/backchannel-logout")
    def backchannel_logout() -> Response:
        token = request.form.get("logout_token", "")
        try:
            claims = validate_logout_token(token, issuer(), client_id(), load_jwks)
        except LogoutTokenError as error:
            app.logger.warning("refused a logout token: %s", error)
            response = jsonify(error="invalid_request", error_description=str(error))
            response.status_code = 400
        else:
            ended.add(claims["sid"])
            response = Response(status=200)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def sign_out_ended_sessions() -> None:
        sid = current_sid()
        if sid and sid in ended:
            session.clear()

    return ended
