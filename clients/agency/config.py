"""The agency's settings: defaults < the client file of `idp demo` < AGENCY_* environment <
explicit settings (tests).

The client file (AGENCY_CLIENT_FILE, by default instance/agency-client.json at the repository
root) holds ``{"issuer", "client_id", "client_secret"}``, written by the provider's ``idp demo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..common import settings as settings_module
from ..common.settings import REPO_ROOT

DEFAULTS: dict[str, Any] = {
    # The provider's issuer identifier; its discovery document lives under it.
    "ISSUER": "http://127.0.0.1:5000",
    # The client registered by `idp demo`.
    "CLIENT_ID": "agency",
    # Required: from the client file or AGENCY_CLIENT_SECRET.
    "CLIENT_SECRET": "",
    # Signs the session cookie. Empty means a random key per process: sign-ins do not survive a
    # restart, which is right for a demo and never leaves a guessable key in use.
    "SECRET_KEY": "",
    # The agency's own base URL; the redirect, post-logout and back-channel logout URIs
    # registered at the provider are derived from it and must match exactly. The front end also
    # reaches its own API here.
    "AGENCY_URL": "http://127.0.0.1:5002",
    # The API's RFC 8707 resource indicator, registered for the client at the provider: access
    # tokens carry it as `aud`, and the API refuses tokens without it. Empty: {AGENCY_URL}/api.
    "API_AUDIENCE": "",
    # Where the seal's key and certificate, the issued documents and the record of ended
    # provider sessions are kept (never committed). Empty: instance/ at the repository root.
    "STATE_DIR": "",
}

# Environment variable -> setting.
ENVIRONMENT = {
    "AGENCY_ISSUER": "ISSUER",
    "AGENCY_CLIENT_ID": "CLIENT_ID",
    "AGENCY_CLIENT_SECRET": "CLIENT_SECRET",
    "AGENCY_SECRET_KEY": "SECRET_KEY",
    "AGENCY_URL": "AGENCY_URL",
    "AGENCY_API_AUDIENCE": "API_AUDIENCE",
    "AGENCY_STATE_DIR": "STATE_DIR",
}


def load(overrides: dict[str, Any] | None = None, environ: dict | None = None) -> dict[str, Any]:
    """Merge the defaults, the client file, the environment and explicit overrides."""
    settings = settings_module.load("agency", DEFAULTS, ENVIRONMENT, overrides, environ)
    if not settings["API_AUDIENCE"]:
        settings["API_AUDIENCE"] = f"{settings['AGENCY_URL']}/api"
    settings["STATE_DIR"] = Path(settings["STATE_DIR"] or REPO_ROOT / "instance")
    return settings


def validate(settings: dict[str, Any]) -> None:
    settings_module.validate("agency", settings, ("ISSUER", "AGENCY_URL", "API_AUDIENCE"))
