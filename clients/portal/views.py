"""Signing in through the provider, refreshing, signing out.

What a sign-in leaves in the session cookie (signed and HttpOnly, not encrypted: whoever holds
the cookie holds the sign-in anyway):
``id_token`` (kept for ``id_token_hint`` at logout), ``id_token_claims`` (validated by Authlib),
``token`` (access and refresh token) and ``userinfo`` (from the userinfo endpoint). Before the
sign-in, ``after_login`` may hold the page to return to.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests
from authlib.integrations.flask_client import OAuthError
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session
from joserfc.errors import JoseError

from ..common import provider
from . import i18n

log = logging.getLogger(__name__)
bp = Blueprint("portal", __name__)

# OIDC Core §3.1.2.6 codes (and our own) that have a message of their own; others get the default.
EXPLAINED_ERRORS = (
    "access_denied",
    "login_required",
    "consent_required",
    "mismatching_state",
    "temporarily_unavailable",
)
AFTER_LOGIN = "after_login"
# Where a sign-in must not return to: it would start another one.
SIGN_IN_PATHS = ("/login", "/callback", "/logout")


@bp.get("/login")
def login():
    """Sign in through the provider; `next` is the page to return to (a path on this site)."""
    target = same_site_path(request.args.get("next"))
    if target:
        session[AFTER_LOGIN] = target
    else:
        session.pop(AFTER_LOGIN, None)
    return provider.client().authorize_redirect(_url("/callback"))


@bp.get("/callback")
def callback():
    token, claims, userinfo = provider.finish_sign_in()
    target = session.pop(AFTER_LOGIN, None)
    # A new session for the new sign-in (no fixation); the chosen language stays.
    i18n.clear_session_keeping_language()
    session["id_token"] = token["id_token"]
    session["id_token_claims"] = claims
    session["token"] = _kept(token)
    session["userinfo"] = userinfo
    return redirect(_url(same_site_path(target) or "/"))


@bp.post("/refresh")
def refresh():
    token = session.get("token")
    if not token or not token.get("refresh_token"):
        return jsonify(refreshed=False, error="not signed in"), 401
    try:
        new_token = provider.client().fetch_access_token(
            grant_type="refresh_token", refresh_token=token["refresh_token"]
        )
    except OAuthError as error:
        if error.error == "invalid_grant":
            # The sign-in ended at the provider (logout, withdrawn consent, reuse): so here too.
            i18n.clear_session_keeping_language()
        return jsonify(refreshed=False, error=error.error), 401
    # The refresh tokens rotate: the old one is spent and must be replaced now.
    # A refreshed ID token (OIDC Core §12.2) is not used; the one from the sign-in stays the
    # id_token_hint for logout.
    session["token"] = _kept(new_token)
    return jsonify(refreshed=True)


@bp.get("/userinfo.json")
def userinfo_json():
    token = session.get("token")
    if not token:
        return jsonify(error="not signed in"), 401
    idp = provider.client()
    response = idp.get(
        idp.server_metadata["userinfo_endpoint"], token=provider.bearer(token["access_token"])
    )
    if response.status_code != 200:
        return jsonify(error="the provider refused the access token"), 401
    return jsonify(response.json())


@bp.post("/logout")
def logout():
    id_token = session.get("id_token")
    i18n.clear_session_keeping_language()
    if not id_token:
        return redirect(_url("/"))
    # RP-Initiated Logout 1.0 §2: with id_token_hint the provider ends its session at once and
    # returns to our registered URI with the state, which Authlib keeps in the (new) session.
    return provider.client().logout_redirect(
        post_logout_redirect_uri=_url("/"), id_token_hint=id_token
    )


@bp.errorhandler(OAuthError)
def protocol_error(error: OAuthError):
    """An error from the provider (e.g. access_denied) or a response that failed our checks."""
    return _error_page(error.error, error.description)


@bp.errorhandler(JoseError)
def invalid_id_token(error: JoseError):
    return _error_page("invalid_id_token", error.description)


@bp.app_errorhandler(requests.RequestException)
def provider_unreachable(error: requests.RequestException):
    """Any page that needed the provider (sign-in, the logout return, the catalogue's home)."""
    log.warning("provider unreachable: %s", error)
    return _error_page("temporarily_unavailable", "the identity provider does not answer", 502)


def same_site_path(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: the page to return to after a
    sign-in comes from the query string, and must never send anyone to another origin."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read a backslash as a slash (/\evil.example); control characters never belong.
    if any(char in target for char in "\\\r\n\t") or urlsplit(target).netloc:
        return None
    if target.split("?")[0] in SIGN_IN_PATHS:
        return None
    return target


def _error_page(code: str | None, description: str | None, status: int = 400):
    log.info("sign-in failed: %s (%s)", code, description)
    key = f"error_{code}" if code in EXPLAINED_ERRORS else "error_default"
    return render_template("error.html", message=i18n.text(key), code=code), status


def _kept(token: dict) -> dict:
    """Only what later calls need, to keep the session cookie small."""
    return {
        key: token[key]
        for key in ("access_token", "refresh_token", "token_type", "expires_at", "scope")
        if key in token
    }


def _url(path: str) -> str:
    return current_app.config["PORTAL_URL"] + path
