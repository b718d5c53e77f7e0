"""The agency's settings: defaults < the client file of `idp demo` < AGENCY_* environment <
explicit settings (tests).

The client file (AGENCY_CLIENT_FILE, by default instance/agency-client.json at the repository
root) holds ``{"issuer", "client_id", "client_secret"}``, written by the provider's ``idp demo``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CLIENT_FILE = REPO_ROOT / "instance" / "agency-client.json"

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

# Keys of the client file -> setting.
CLIENT_FILE_KEYS = {"issuer": "ISSUER", "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def load(overrides: dict[str, Any] | None = None, environ: dict | None = None) -> dict[str, Any]:
    """Merge the defaults, the client file, the environment and explicit overrides."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    settings.update(_read_client_file(environ))
    settings.update({name: environ[var] for var, name in ENVIRONMENT.items() if var in environ})
    settings.update(overrides or {})
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = secrets.token_urlsafe(32)
    if not settings["API_AUDIENCE"]:
        settings["API_AUDIENCE"] = f"{settings['AGENCY_URL']}/api"
    settings["STATE_DIR"] = Path(settings["STATE_DIR"] or REPO_ROOT / "instance")
    return settings


def _read_client_file(environ) -> dict[str, Any]:
    named = environ.get("AGENCY_CLIENT_FILE")
    path = Path(named) if named else DEFAULT_CLIENT_FILE
    if not path.exists():
        if named:
            raise ConfigError(f"AGENCY_CLIENT_FILE points to {path}, which does not exist")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable JSON client file: {exc}") from None
    return {name: data[key] for key, name in CLIENT_FILE_KEYS.items() if key in data}


def validate(settings: dict[str, Any]) -> None:
    """Refuse to start without a client secret or with URLs the redirects cannot be built on."""
    for name in ("ISSUER", "AGENCY_URL", "API_AUDIENCE"):
        url = settings[name]
        if not url.startswith(("https://", "http://")) or url.endswith("/") or "?" in url:
            raise ConfigError(f"{name} must be an http(s) URL without a trailing slash or query")
    if not settings["CLIENT_ID"]:
        raise ConfigError("AGENCY_CLIENT_ID is empty")
    if not settings["CLIENT_SECRET"]:
        raise ConfigError(
            "no client secret: run `idp demo` (writes instance/agency-client.json) "
            "or set AGENCY_CLIENT_SECRET"
        )
