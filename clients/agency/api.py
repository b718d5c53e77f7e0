"""The agency's back-end API (a resource server): issues criminal record certificates.

It takes the person's identity from the access token alone. The token says who (`sub`) and what
was consented (`scope`); the name, birth date and NID come from the provider's userinfo endpoint,
called with the same token, which also tells us that the provider still accepts it (not revoked,
the sign-in not ended).

For the demo the register holds no convictions: everyone's certificate says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import requests
from authlib.integrations.flask_client import OAuthError
from flask import Blueprint, Response, jsonify, request

from ..common import provider
from . import bearer
from .strings import PURPOSES

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

# The NID is released only under its own scope; without it there is nothing to certify.
REQUIRED_SCOPE = "nid"


@bp.post("/certificates")
def issue_certificate():
    token = bearer.token_from_request()
    claims = bearer.validate(token, REQUIRED_SCOPE)
    person = _person(token, claims["sub"])
    if not person.get("nid"):
        return _error(403, "not_a_citizen", "the account has no personal number (NID)")
    purpose = (request.get_json(silent=True) or {}).get("purpose")
    if purpose not in PURPOSES:
        return _error(400, "invalid_request", f"purpose must be one of {', '.join(PURPOSES)}")
    issued_at = dt.datetime.now(dt.UTC)
    certificate = {
        "reference": f"DP-{issued_at:%Y%m%d}-{secrets.token_hex(4).upper()}",
        "issued_at": issued_at.isoformat(timespec="seconds"),
        "purpose": purpose,
        "person": {
            "given_name": person.get("given_name", ""),
            "family_name": person.get("family_name", ""),
            "birthdate": person.get("birthdate"),
            "nid": person["nid"],
        },
        "convictions": [],
    }
    # Who asked is recorded by reference and subject only: no NID in the logs.
    log.info("certificate %s issued to sub %s", certificate["reference"], claims["sub"])
    response = jsonify(certificate)
    response.status_code = 201
    return response


def _person(token: str, subject: str) -> dict:
    """Userinfo for the token's subject, or InvalidToken if the provider refuses the token."""
    idp = provider.client()
    response = idp.get(idp.server_metadata["userinfo_endpoint"], token=provider.bearer(token))
    if response.status_code == 401:
        raise bearer.InvalidToken("the provider no longer accepts the token")
    response.raise_for_status()
    info = response.json()
    # OIDC Core §5.3.4: userinfo about anyone but the token's subject is not to be used.
    if info.get("sub") != subject:
        raise bearer.InvalidToken("userinfo is about another subject")
    return info


@bp.after_request
def no_store(response: Response) -> Response:
    # RFC 6750 §5.3 and personal data: never cached by anyone.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(bearer.BearerError)
def bearer_error(error: bearer.BearerError):
    response = _error(error.status, error.error, error.description)
    response.headers["WWW-Authenticate"] = error.challenge()
    return response


@bp.errorhandler(requests.RequestException)
@bp.errorhandler(OAuthError)
def provider_unavailable(error: Exception):
    log.warning("provider unavailable to the API: %s", error)
    return _error(503, "temporarily_unavailable", "the identity provider does not answer")


def _error(status: int, code: str | None, description: str | None) -> Response:
    body = {"error": code} if code else {}
    if description:
        body["error_description"] = description
    response = jsonify(body)
    response.status_code = status
    return response
