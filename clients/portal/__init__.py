"""The portal: a minimal relying party that signs people in through the provider.

It talks to the provider over HTTP only (discovery, authorize, token, userinfo, logout), as any
agency's service would. Run it with ``flask --app clients.portal run --port 5001``.
"""

from __future__ import annotations

from flask import Flask

from . import config as config_module
from . import provider


def create_app(config: dict | None = None) -> Flask:
    """Build the portal. `config` overrides settings (tests); otherwise file and environment."""
    settings = config_module.load(config)
    config_module.validate(settings)
    app = Flask(__name__)
    app.config.update(settings)
    secure = settings["PORTAL_URL"].startswith("https://")
    app.config.update(
        # Its own name: the provider's cookies (idp_sso, idp_csrf) share the host on a dev machine.
        SESSION_COOKIE_NAME="__Host-portal_session" if secure else "portal_session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: sent on the provider's redirect back to /callback (a top-level navigation), never
        # on another site's form posts, so those cannot sign anyone out or refresh tokens.
        SESSION_COOKIE_SAMESITE="Lax",
    )
    provider.register(app)

    from .views import bp

    app.register_blueprint(bp)
    return app
