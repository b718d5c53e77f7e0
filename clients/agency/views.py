"""The agency's pages: sign in through the provider, request the certificate, download it.

What a sign-in leaves in the session cookie (signed and HttpOnly, not encrypted: whoever holds
the cookie holds the sign-in anyway): ``id_token`` (the id_token_hint at logout),
``id_token_claims`` (validated by Authlib; its ``sid`` is matched by back-channel logout),
``token`` (the access token for the API and its expiry), ``userinfo`` (whom the page greets) and
``documents`` (the certificates issued in this sign-in).
"""

from __future__ import annotations

import logging
import time

import requests
from authlib.integrations.flask_client import OAuthError
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import JoseError
from werkzeug.exceptions import HTTPException

from ..common import provider
from . import certificate, security
from .strings import DEFAULT_LANGUAGE, LANGUAGES, PURPOSES, text

log = logging.getLogger(__name__)
bp = Blueprint("agency", __name__)

SERVICE_PATH = "/deshmia-e-penalitetit"
# Where a sign-in may lead back to: our own pages only, never a URL from the request.
RETURN_PATHS = ("/", SERVICE_PATH)
# Certificates listed for download again; older ones of the sign-in are removed.
KEPT_DOCUMENTS = 5
# An access token with less life left than this (seconds) is renewed before calling the API.
TOKEN_MARGIN = 15
# Seconds to wait for our own API.
API_TIMEOUT = 30
# Error codes from the provider or the API -> what the person reads (strings.py keys).
ERROR_MESSAGES = {
    "access_denied": "error_access_denied",
    "login_required": "error_login_required",
    "consent_required": "error_access_denied",
    "mismatching_state": "error_mismatching_state",
    "invalid_token": "error_login_required",
    "csrf": "error_csrf",
    "not_a_citizen": "error_not_a_citizen",
    "temporarily_unavailable": "error_unavailable",
    "not_found": "error_not_found",
}


def current_language() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return session.get("lang", DEFAULT_LANGUAGE)


@bp.app_context_processor
def template_helpers() -> dict:
    language = current_language()
    other = "en" if language == "sq" else "sq"
    return {
        "lang": language,
        "t": lambda key, **values: text(language, key, **values),
        "switch_language_url": f"{request.path}?lang={other}",
        "purpose_label": lambda key: text(language, f"purpose.{key}"),
    }


@bp.before_request
def remember_language() -> None:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and session.get("lang") != chosen:
        session["lang"] = chosen


@bp.get("/")
def home():
    signed_out = "state" in request.args and _logout_state_is_ours()
    return render_template(
        "home.html",
        person=session.get("userinfo"),
        documents=session.get("documents", []),
        signed_out=signed_out,
    )


@bp.get("/login")
def login():
    after = request.args.get("next", "/")
    session["after_login"] = after if after in RETURN_PATHS else "/"
    # RFC 8707: ask for an access token addressed to our API (it becomes the token's `aud`).
    # When the person is already signed in at the provider (coming from the portal), the
    # provider answers at once, with its consent page the first time only.
    return provider.client().authorize_redirect(
        _url("/callback"),
        resource=current_app.config["API_AUDIENCE"],
        ui_locales=current_language(),
    )


@bp.get("/callback")
def callback():
    token, claims, userinfo = provider.finish_sign_in()
    after = session.get("after_login", "/")
    language = session.get("lang")
    # A new session for the signed-in person: nothing from before the sign-in carries over.
    session.clear()
    if language:
        session["lang"] = language
    session["id_token"] = token["id_token"]
    session["id_token_claims"] = claims
    # expires_at: Authlib's reading of expires_in (None if the provider did not say).
    session["token"] = {
        "access_token": token["access_token"],
        "expires_at": token.get("expires_at"),
    }
    session["userinfo"] = userinfo
    return redirect(_url(after))


@bp.get(SERVICE_PATH)
def service():
    if "userinfo" not in session:
        return redirect(url_for(".login", next=SERVICE_PATH))
    return render_template(
        "service.html",
        person=session["userinfo"],
        purposes=PURPOSES,
        documents=session.get("documents", []),
    )


@bp.post(SERVICE_PATH)
def request_certificate():
    if not security.csrf_token_is_valid(request.form.get(security.CSRF_FIELD)):
        return _error_page("csrf", status=400)
    token = session.get("token")
    if not token or _expires_soon(token):
        # Signed out meanwhile, or the access token is (nearly) spent: sign in again, which
        # the provider's single sign-on makes one redirect; then the person confirms again.
        return redirect(url_for(".login", next=SERVICE_PATH))
    purpose = request.form.get("purpose")
    if purpose not in PURPOSES:
        abort(400)
    response = requests.post(
        _url("/api/certificates"),
        json={"purpose": purpose},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=API_TIMEOUT,
    )
    if response.status_code != 201:
        return _api_error(response)
    issued = response.json()
    sealed = current_app.extensions["agency.seal"].apply(certificate.render(issued))
    document_id = current_app.extensions["agency.documents"].save(sealed)
    entry = {
        "id": document_id,
        "reference": issued["reference"],
        "issued_on": issued["issued_at"][:10],
        "purpose": issued["purpose"],
        "filename": certificate.filename(issued),
    }
    documents = [entry, *session.get("documents", [])]
    for dropped in documents[KEPT_DOCUMENTS:]:
        current_app.extensions["agency.documents"].delete(dropped["id"])
    session["documents"] = documents[:KEPT_DOCUMENTS]
    # Post/redirect/get: reloading the result page does not issue another certificate.
    return redirect(url_for(".issued", document_id=document_id), code=303)


@bp.get(f"{SERVICE_PATH}/<document_id>")
def issued(document_id: str):
    return render_template("issued.html", document=_own_document(document_id))


@bp.get("/dokumentet/<document_id>")
def download(document_id: str):
    entry = _own_document(document_id)
    pdf = current_app.extensions["agency.documents"].load(document_id)
    if pdf is None:
        abort(404)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{entry["filename"]}"'},
    )


@bp.post("/logout")
def logout():
    if not security.csrf_token_is_valid(request.form.get(security.CSRF_FIELD)):
        return _error_page("csrf", status=400)
    id_token = session.get("id_token")
    for entry in session.get("documents", []):
        current_app.extensions["agency.documents"].delete(entry["id"])
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    if not id_token:
        return redirect(url_for(".home"))
    # RP-Initiated Logout 1.0 §2: with id_token_hint the provider ends its session at once and
    # returns to our registered URI with the state, which Authlib keeps in the (new) session.
    return provider.client().logout_redirect(
        post_logout_redirect_uri=_url("/"), id_token_hint=id_token
    )


@bp.errorhandler(OAuthError)
def protocol_error(error: OAuthError):
    """An error from the provider (e.g. access_denied) or a response that failed our checks."""
    log.info("sign-in failed: %s (%s)", error.error, error.description)
    return _error_page(error.error, status=400)


@bp.errorhandler(JoseError)
def invalid_id_token(error: JoseError):
    log.info("sign-in failed: invalid ID token (%s)", error.description)
    return _error_page("invalid_id_token", status=400)


@bp.errorhandler(requests.RequestException)
def unreachable(error: requests.RequestException):
    log.warning("provider or API unreachable: %s", error)
    return _error_page("temporarily_unavailable", status=502)


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException):
    if request.path.startswith("/api/"):
        body = {"error": "invalid_request", "error_description": error.name}
        # get_headers keeps what the error needs, e.g. Allow on 405.
        headers = [(k, v) for k, v in error.get_headers() if k != "Content-Type"]
        return body, error.code, headers
    code = "not_found" if error.code == 404 else None
    return _error_page(code, status=error.code)


@bp.app_errorhandler(Exception)
def unexpected(error: Exception):
    log.exception("unhandled error on %s", request.path)
    if request.path.startswith("/api/"):
        return {"error": "server_error"}, 500
    return _error_page(None, status=500)


def _api_error(response: requests.Response):
    try:
        code = response.json().get("error")
    except ValueError:
        code = None
    log.warning("the API refused the certificate: %s %s", response.status_code, code)
    if response.status_code == 401:
        # The provider no longer accepts the token (signed out elsewhere, revoked).
        session.pop("token", None)
        return _error_page("invalid_token", status=401)
    if code == "not_a_citizen":
        return _error_page(code, status=403)
    return _error_page("temporarily_unavailable", status=502)


def _expires_soon(token: dict) -> bool:
    expires_at = token.get("expires_at")
    return expires_at is not None and expires_at - time.time() < TOKEN_MARGIN


def _own_document(document_id: str) -> dict:
    """The session's entry for a document; 404 for anyone else's or an unknown one."""
    for entry in session.get("documents", []):
        if entry["id"] == document_id:
            return entry
    abort(404)


def _logout_state_is_ours() -> bool:
    try:
        provider.client().validate_logout_response()
    except OAuthError:
        return False
    return True


def _error_page(code: str | None, status: int):
    message = text(current_language(), ERROR_MESSAGES.get(code or "", "error_default"))
    return render_template("error.html", message=message, code=code), status


def _url(path: str) -> str:
    return current_app.config["AGENCY_URL"] + path
