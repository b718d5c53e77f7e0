"""HTTP routes of the protocol: authorization, token, userinfo, revocation, introspection,
logout, discovery and JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import unquote

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from flask import Blueprint, Response, current_app, render_template, request

from . import authorize, logout
from .errors import describe

bp = Blueprint("oauth", __name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _server():
    return current_app.extensions["idp.oauth"]


def api_error(description: str, status: int = 400) -> Response:
    """An RFC 6749 §5.2 error body for requests refused before Authlib sees them. The
    description may quote the request (a parameter's name)."""
    error = InvalidRequestError(describe(description))
    code, body, headers = error()
    return Response(json.dumps(body), status=status if status != 400 else code, headers=headers)


def _check_api_request() -> Response | None:
    """Token, revocation and introspection take one form-encoded POST body (RFC 6749 §3.2)."""
    if request.mimetype != FORM_CONTENT_TYPE:
        return api_error(f"Content-Type must be {FORM_CONTENT_TYPE}")
    if request.args:
        return api_error("parameters belong in the request body, not the URL")
    limit = current_app.config["MAX_PARAMETER_LENGTH"]
    for key in request.form:
        values = request.form.getlist(key)
        if len(values) > 1 and key != "resource":
            return api_error(f"parameter '{key[:40]}' is repeated")
        if any(len(value) > limit for value in values):
            return api_error(f"parameter '{key[:40]}' is too long")
    authorization = request.headers.get("Authorization", "")
    if authorization[:6].lower() == "basic ":
        if {"client_secret", "client_assertion"} & set(request.form):
            return api_error("use one client authentication method, not several")
        if not _readable_basic_credentials(authorization[6:]):
            error = InvalidClientError(status_code=401, description="malformed Basic credentials")
            code, body, headers = error()
            return Response(json.dumps(body), status=code, headers=headers)
    return None


def _readable_basic_credentials(encoded: str) -> bool:
    """RFC 7617: base64 of UTF-8 "id:secret", without control characters (§2), also once
    form-decoded (RFC 6749 §2.3.1), as Authlib reads them. Garbage must not reach Authlib, and
    NUL not the database (PostgreSQL cannot hold it)."""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII at all, or not UTF-8 inside
        return False
    return ":" in decoded and unquote(decoded).isprintable()


@bp.route("/authorize", methods=["GET", "POST"])
def authorize_endpoint():
    if request.method == "POST" and request.mimetype != FORM_CONTENT_TYPE:
        return render_template("error.html", error=InvalidRequestError("bad content type")), 400
    return authorize.start(authorize.request_parameters())


@bp.route("/authorize/continue")
def authorize_continue():
    return authorize.resume(request.args.get("challenge", ""))


@bp.route("/token", methods=["POST"])
def token_endpoint():
    return _check_api_request() or _server().create_token_response()


@bp.route("/revoke", methods=["POST"])
def revocation_endpoint():
    return _check_api_request() or _server().create_endpoint_response("revocation")


@bp.route("/introspect", methods=["POST"])
def introspection_endpoint():
    return _check_api_request() or _server().create_endpoint_response("introspection")


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo_endpoint():
    if request.args.get("access_token"):
        # RFC 6750 §2.3 tokens in URLs leak into logs; RFC 9700 §2.2.2 forbids them.
        return api_error("send the access token in the Authorization header")
    return _server().create_endpoint_response("userinfo")


@bp.route("/logout", methods=["GET", "POST"])
def end_session_endpoint():
    return logout.end_session()


@bp.route("/.well-known/openid-configuration")
@bp.route("/.well-known/oauth-authorization-server")
def discovery():
    body = current_app.extensions["idp.metadata_json"]
    return Response(
        body,
        mimetype="application/json",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )


@bp.route("/jwks.json")
def jwks():
    body = json.dumps(current_app.extensions["idp.keystore"].public_jwks(), sort_keys=True)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    response = Response(body, mimetype="application/jwk-set+json")
    response.set_etag(etag)
    max_age = current_app.config["JWKS_MAX_AGE"]
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)
