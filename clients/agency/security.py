"""The agency's web security in one place: response headers and the form CSRF token.

The CSRF token is a random value per session, put in each form and compared in constant time
on every state-changing POST. The session cookie is also SameSite=Lax (see create_app); the
token is what protects the forms if that is ever relaxed or a browser ignores it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, session

CSRF_FIELD = "csrf_token"
SECURITY_HEADERS = {
    # No inline scripts or styles, nothing from elsewhere, never framed (clickjacking).
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The service's URLs must not leak to other sites.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def csrf_token() -> str:
    """This session's token, made on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def csrf_token_is_valid(submitted: str | None) -> bool:
    expected = session.get(CSRF_FIELD)
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def init_app(app: Flask) -> None:
    hsts = app.config["AGENCY_URL"].startswith("https://")
    app.add_template_global(csrf_token)

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", "max-age=63072000")
        if response.mimetype in ("text/html", "application/pdf"):
            # Pages and documents carry personal data and CSRF tokens: never cached.
            response.headers["Cache-Control"] = "no-store"
        return response
