"""The admin API for support staff: see and lift account locks.

Protected by one bearer credential (IDP_ADMIN_TOKEN), compared in constant time; without it
configured the API does not exist (404). Every call is audited, refused ones included.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, request

from . import audit, security
from .auth import identifiers, lockout
from .auth.login import identifier_is_well_formed
from .models import BUSINESS, CITIZEN

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _json(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


@bp.before_request
def require_admin_credential():
    token = current_app.config["ADMIN_TOKEN"]
    if not token:
        abort(404)
    presented = request.headers.get("Authorization", "")
    if not (presented.startswith("Bearer ") and security.equal(presented[7:], token)):
        audit.record("admin.request", "refused", path=request.path)
        return _json(
            {"error": "invalid_token"},
            401,
            {"WWW-Authenticate": 'Bearer realm="admin", error="invalid_token"'},
        )
    return None


def _account(kind: str, identifier: str) -> tuple[str, str]:
    identifier = identifiers.normalize(identifier)
    # Only a NID or NIPT names an account: anything else is none, and must not reach the
    # lockout keys or the audit log (whose column it may not even fit).
    if kind not in (CITIZEN, BUSINESS) or not identifier_is_well_formed(identifier):
        abort(404)
    return kind, identifier


@bp.get("/accounts/<kind>/<identifier>/lock")
def lock_status(kind: str, identifier: str):
    kind, identifier = _account(kind, identifier)
    until = lockout.locked_until(kind, identifier)
    return _json({"locked": until is not None, "locked_until": int(until) if until else None})


@bp.post("/accounts/<kind>/<identifier>/unlock")
def unlock(kind: str, identifier: str):
    kind, identifier = _account(kind, identifier)
    lockout.unlock(kind, identifier, by="admin-api")
    return Response(status=204)
