"""Response headers and error pages for the whole app: readable for people, RFC-shaped for
clients, never a stack trace."""

from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import urlencode

from flask import Flask, Response, abort, g, render_template, request
from flask_babel import format_datetime, format_timedelta, get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from ..auth import codes, devices, sessions
from .i18n import LANGUAGE_COOKIE

log = logging.getLogger(__name__)

# Paths that machines call: their errors are JSON (RFC 6749 §5.2 shape), not pages.
API_PATHS = (
    "/token",
    "/revoke",
    "/introspect",
    "/userinfo",
    "/.well-known/",
    "/jwks.json",
    "/oauth/register",
    "/admin/",
)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # No inline scripts or styles anywhere; frames never (clickjacking of the login).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# What each scope shares, in the words of the consent screen.
SCOPE_DESCRIPTIONS = {
    "openid": _l("That you are signed in (an identifier for this service only, not your NID)"),
    "profile": _l("Your first name, last name and date of birth"),
    "email": _l("Your e-mail address"),
    "phone": _l("Your mobile phone number"),
    "nid": _l("Your personal number (NID)"),
    "business": _l("Your business: its NIPT and name"),
}


def scope_description(scope: str) -> str:
    return str(SCOPE_DESCRIPTIONS.get(scope, scope))


def format_time_of(timestamp: float) -> str:
    """A moment as people read it here (BABEL_DEFAULT_TIMEZONE, the page's language)."""
    return format_datetime(dt.datetime.fromtimestamp(timestamp, dt.UTC), "short")


def format_duration(seconds: int) -> str:
    return format_timedelta(dt.timedelta(seconds=seconds), threshold=1.5)


def language_query(language: str) -> str:
    """The current query string with lang set: switching language keeps the page's state."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [language]
    return urlencode(args, doseq=True)


def init_app(app: Flask) -> None:
    hsts = app.config["ISSUER"].startswith("https://")

    app.add_template_global(get_locale)
    app.add_template_global(format_time_of)
    app.add_template_global(format_duration)
    for helper in (
        codes.mask,
        codes.channel_name,
        codes.seconds_left,
        codes.cooldown_left,
        codes.sends_left,
    ):
        app.add_template_global(helper)
    app.add_template_global(scope_description)
    app.add_template_filter(scope_description)
    app.add_template_global(language_query)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # Browsers ask every site for it, unprompted: an icon, not a 404 in the log.
        return app.send_static_file("favicon.ico")

    @app.before_request
    def refuse_nul() -> None:
        """NUL (U+0000) belongs in no URL, header or form field (RFC 9110 §5.5 lets a recipient
        refuse it), and PostgreSQL can neither store nor compare it (a 500): the request is
        refused before anything looks it up."""
        texts = [request.path, *request.headers.values()]
        texts += [text for pair in request.args.items(multi=True) for text in pair]
        if request.mimetype in FORM_TYPES:  # other bodies are read (and checked) by their views
            texts += [text for pair in request.form.items(multi=True) for text in pair]
        if any("\x00" in text for text in texts):
            abort(400)

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
            )
        if response.mimetype == "text/html":
            # Pages carry CSRF tokens and personal data: never cached.
            response.headers["Cache-Control"] = "no-store"
        if "language_choice" in g:
            response.set_cookie(
                LANGUAGE_COOKIE,
                g.language_choice,
                max_age=365 * 86400,
                samesite="Lax",
                secure=hsts,
                httponly=True,
            )
        return devices.write_cookie(sessions.write_cookie(response))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith(API_PATHS):
            code = "invalid_request" if error.code < 500 else "server_error"
            status = 400 if error.code == 413 else error.code
            body = {"error": code, "error_description": error.name}
            response = Response(json.dumps(body), status=status, mimetype="application/json")
            if error.code == 405:
                response.headers["Allow"] = ", ".join(error.valid_methods or [])
            return response
        return render_template("http_error.html", error=error), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s", request.path)
        if request.path.startswith(API_PATHS):
            body = {"error": "server_error", "error_description": "internal error"}
            return Response(json.dumps(body), status=500, mimetype="application/json")
        return render_template("http_error.html", error=None), 500
