"""Trusted devices: a browser where an account completed a sign-in carries a signed cookie saying
so (OWASP's "device cookies" against lockout abuse). While the account is locked by attempts made
elsewhere, that browser may still try, with a counter of its own (idp.auth.lockout), so someone
who knows a citizen's NID cannot keep the citizen out of their own account.

The cookie names no account: it holds a random device id and keyed digests of the accounts that
signed in from it, signed with the secret key. It grants attempts, never access.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import security

# Accounts one browser remembers (a family computer); the oldest is forgotten first.
MAX_ACCOUNTS = 5


def _https() -> bool:
    return current_app.config["ISSUER"].startswith("https://")


def cookie_name() -> str:
    return "__Host-idp_device" if _https() else "idp_device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="idp.device")


def _account_tag(kind: str, identifier: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"device:{kind}:{identifier}".encode(), hashlib.sha256).hexdigest()[:32]


def _read() -> dict | None:
    """This browser's device record {"id", "accounts"}, if its cookie is ours and not too old."""
    raw = request.cookies.get(cookie_name())
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=current_app.config["DEVICE_COOKIE_LIFETIME"])
    except BadSignature:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("id"), str)):
        return None
    accounts = data.get("accounts")
    return {"id": data["id"], "accounts": accounts if isinstance(accounts, list) else []}


def trusted_for(kind: str, identifier: str) -> str | None:
    """The id of this browser if the account completed a sign-in here before, else None."""
    device = _read()
    if device is None or _account_tag(kind, identifier) not in device["accounts"]:
        return None
    return device["id"]


def remember(kind: str, identifier: str) -> None:
    """After a completed sign-in: this browser is one the account's owner uses."""
    device = _read() or {"id": security.generate_secret(16), "accounts": []}
    tag = _account_tag(kind, identifier)
    others = [a for a in device["accounts"] if a != tag]
    accounts = [*others[-(MAX_ACCOUNTS - 1) :], tag]
    g.device_cookie = _serializer().dumps({"id": device["id"], "accounts": accounts})


def write_cookie(response: Response) -> Response:
    """after_request: send the device cookie decided during the request."""
    if "device_cookie" in g:
        response.set_cookie(
            cookie_name(),
            g.device_cookie,
            max_age=current_app.config["DEVICE_COOKIE_LIFETIME"],
            secure=_https(),
            httponly=True,
            samesite="Lax",
            path="/",
        )
    return response
