"""The portal: e-Albania's e-service catalogue, a relying party that signs people in through the
provider.

It talks to the provider over HTTP only (discovery, authorize, token, userinfo, logout, and the
provider's back-channel logout calls), as any agency's service would. Run it with
``flask --app clients.portal run --port 5001``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, session

from ..common import backchannel, favicon, provider
from . import catalogue, i18n
from . import config as config_module

# No inline scripts or styles (the stylesheet is static/portal.css); never framed (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
BACKCHANNEL_FILE = "portal-backchannel.sqlite3"


# Everything the portal shows: the greeting, the account type, the catalogue for it.
SCOPE = "openid profile email phone nid business"


def create_app(config: dict | None = None) -> Flask:
    """Build the portal. `config` overrides settings (tests); otherwise file and environment."""
    settings = config_module.load(config)
    config_module.validate(settings)
    app = Flask(__name__)
    app.config.update(settings)
    provider.configure_session_cookie(app, "portal", settings["PORTAL_URL"])
    app.extensions["portal.catalogue"] = catalogue.load(
        Path(settings["CATALOGUE_FILE"]), settings["AGENCY_URL"]
    )
    provider.register(app, SCOPE)
    # Before the language hook: a session the provider ended is cleared first.
    backchannel.init_app(
        app,
        issuer=lambda: app.config["ISSUER"],
        client_id=lambda: app.config["CLIENT_ID"],
        load_jwks=provider.load_jwks,
        current_sid=lambda: session.get("id_token_claims", {}).get("sid"),
        path=Path(settings["PORTAL_STATE_DIR"]) / BACKCHANNEL_FILE,
    )
    i18n.init_app(app)
    favicon.init_app(app)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if response.mimetype == "text/html":
            # Pages depend on the session (name, account type, language): never cached.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    from .pages import bp as pages
    from .views import bp as sign_in

    app.register_blueprint(sign_in)
    app.register_blueprint(pages)
    return app
