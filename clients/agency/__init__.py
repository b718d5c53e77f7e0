"""An agency's service: the certificate of criminal record ("Dëshmia e Penalitetit").

A second relying party, registered at the provider as its own client (``agency``). The person
arrives from the portal already signed in (single sign-on), confirms the request, and gets a PDF
sealed with the agency's own key. The pages call the agency's API (``/api``) with the access
token, and the API checks that token itself. Everything reaches the provider over HTTP only.
Run it with ``flask --app clients.agency run --port 5002``; since a page waits for the API on
the same server, serve it with more than one thread or worker (``flask run`` is threaded).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session

from ..common import backchannel, favicon, provider
from . import config as config_module
from . import documents, seal, security

# Data minimisation: only what the certificate needs (name and birth date, the NID). The
# consent screen lists exactly these.
SCOPE = "openid profile nid"


def create_app(config: dict | None = None) -> Flask:
    """Build the agency. `config` overrides settings (tests); otherwise file and environment."""
    settings = config_module.load(config)
    config_module.validate(settings)
    app = Flask(__name__)
    app.config.update(settings)
    provider.configure_session_cookie(app, "agency", settings["AGENCY_URL"])
    state_dir = Path(settings["STATE_DIR"])
    provider.register(app, SCOPE)
    seal.init_app(app)
    favicon.init_app(app)
    documents.init_app(app)
    security.init_app(app)
    backchannel.init_app(
        app,
        issuer=lambda: app.config["ISSUER"],
        client_id=lambda: app.config["CLIENT_ID"],
        load_jwks=provider.load_jwks,
        current_sid=lambda: session.get("id_token_claims", {}).get("sid"),
        path=state_dir / "agency-backchannel.sqlite3",
    )

    from .api import bp as api_bp
    from .views import bp as views_bp

    app.register_blueprint(views_bp)
    app.register_blueprint(api_bp)
    return app
