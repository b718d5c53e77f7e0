"""The portal's settings: defaults < the client file of `idp demo` < PORTAL_* environment <
explicit settings (tests).

The client file (PORTAL_CLIENT_FILE, by default instance/portal-client.json at the repository
root) holds ``{"issuer", "client_id", "client_secret"}``, written by the provider's ``idp demo``.
"""

from __future__ import annotations

from typing import Any

from ..common import settings as settings_module
from ..common.settings import REPO_ROOT

DEFAULTS: dict[str, Any] = {
    # The provider's issuer identifier; its discovery document lives under it.
    "ISSUER": "http://127.0.0.1:5000",
    # The client registered by `idp demo`.
    "CLIENT_ID": "portal",
    # Required: from the client file or PORTAL_CLIENT_SECRET.
    "CLIENT_SECRET": "",
    # Signs the session cookie. Empty means a random key per process: sign-ins do not survive a
    # restart, which is right for a demo and never leaves a guessable key in use.
    "SECRET_KEY": "",
    # The portal's own base URL; the redirect and post-logout URIs registered at the provider
    # are derived from it and must match exactly.
    "PORTAL_URL": "http://127.0.0.1:5001",
    # The agency's own app (clients/agency): a catalogue url "{agency}/..." points into it.
    "AGENCY_URL": "http://127.0.0.1:5002",
    # The e-service catalogue (categories and services), read once at start-up.
    "CATALOGUE_FILE": str(REPO_ROOT / "config" / "catalogue.toml"),
    # Where the portal keeps state shared by its workers: the provider sessions that ended
    # (back-channel logout), in portal-backchannel.sqlite3.
    "PORTAL_STATE_DIR": str(REPO_ROOT / "instance"),
}

# Environment variable -> setting.
ENVIRONMENT = {
    "PORTAL_ISSUER": "ISSUER",
    "PORTAL_CLIENT_ID": "CLIENT_ID",
    "PORTAL_CLIENT_SECRET": "CLIENT_SECRET",
    "PORTAL_SECRET_KEY": "SECRET_KEY",
    "PORTAL_URL": "PORTAL_URL",
    "PORTAL_AGENCY_URL": "AGENCY_URL",
    "PORTAL_CATALOGUE_FILE": "CATALOGUE_FILE",
    "PORTAL_STATE_DIR": "PORTAL_STATE_DIR",
}


def load(overrides: dict[str, Any] | None = None, environ: dict | None = None) -> dict[str, Any]:
    """Merge the defaults, the client file, the environment and explicit overrides."""
    return settings_module.load("portal", DEFAULTS, ENVIRONMENT, overrides, environ)


def validate(settings: dict[str, Any]) -> None:
    settings_module.validate("portal", settings, ("ISSUER", "PORTAL_URL", "AGENCY_URL"))
