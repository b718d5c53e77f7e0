"""The portal's settings: defaults < the client file of `idp demo` < PORTAL_* environment <
explicit settings (tests).

The client file (PORTAL_CLIENT_FILE, by default instance/portal-client.json at the repository
root) holds ``{"issuer", "client_id", "client_secret"}``, written by the provider's ``idp demo``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CLIENT_FILE = REPO_ROOT / "instance" / "portal-client.json"

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
    return settings


def _read_client_file(environ) -> dict[str, Any]:
    named = environ.get("PORTAL_CLIENT_FILE")
    path = Path(named) if named else DEFAULT_CLIENT_FILE
    if not path.exists():
        if named:
            raise ConfigError(f"PORTAL_CLIENT_FILE points to {path}, which does not exist")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable JSON client file: {exc}") from None
    return {name: data[key] for key, name in CLIENT_FILE_KEYS.items() if key in data}


def validate(settings: dict[str, Any]) -> None:
    """Refuse to start without a client secret or with URLs the redirects cannot be built on."""
    for name in ("ISSUER", "PORTAL_URL", "AGENCY_URL"):
        url = settings[name]
        if not url.startswith(("https://", "http://")) or url.endswith("/") or "?" in url:
            raise ConfigError(f"{name} must be an http(s) URL without a trailing slash or query")
    if not settings["CLIENT_ID"]:
        raise ConfigError("PORTAL_CLIENT_ID is empty")
    if not settings["CLIENT_SECRET"]:
        raise ConfigError(
            "no client secret: run `idp demo` (writes instance/portal-client.json) "
            "or set PORTAL_CLIENT_SECRET"
        )
