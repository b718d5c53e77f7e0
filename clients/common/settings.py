"""Settings of a relying party in clients/: defaults < the client file `idp demo` writes <
<PREFIX>_* environment variables < explicit settings (tests).

The client file (<PREFIX>_CLIENT_FILE, by default instance/<name>-client.json at the repository
root) holds ``{"issuer", "client_id", "client_secret"}``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# Keys of the client file -> setting.
CLIENT_FILE_KEYS = {"issuer": "ISSUER", "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def load(
    name: str,
    defaults: Mapping[str, Any],
    environment: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge the defaults, the client file, the environment and explicit overrides.

    `environment` maps variable names (e.g. PORTAL_ISSUER) to settings.
    """
    environ = os.environ if environ is None else environ
    settings = dict(defaults)
    settings.update(_read_client_file(name, environ))
    settings.update({key: environ[var] for var, key in environment.items() if var in environ})
    settings.update(overrides or {})
    if not settings["SECRET_KEY"]:
        # A random key per process: sign-ins do not survive a restart, which is right for a
        # demo and never leaves a guessable key in use.
        settings["SECRET_KEY"] = secrets.token_urlsafe(32)
    return settings


def _read_client_file(name: str, environ: Mapping[str, str]) -> dict[str, Any]:
    variable = f"{name.upper()}_CLIENT_FILE"
    named = environ.get(variable)
    path = Path(named) if named else REPO_ROOT / "instance" / f"{name}-client.json"
    if not path.exists():
        if named:
            raise ConfigError(f"{variable} points to {path}, which does not exist")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable JSON client file: {exc}") from None
    return {key: data[file_key] for file_key, key in CLIENT_FILE_KEYS.items() if file_key in data}


def validate(name: str, settings: Mapping[str, Any], urls: Iterable[str]) -> None:
    """Refuse to start without a client secret or with URLs redirects cannot be built on."""
    for setting in urls:
        url = settings[setting]
        if not url.startswith(("https://", "http://")) or url.endswith("/") or "?" in url:
            raise ConfigError(f"{setting} must be an http(s) URL without a trailing slash or query")
    prefix = name.upper()
    if not settings["CLIENT_ID"]:
        raise ConfigError(f"{prefix}_CLIENT_ID is empty")
    if not settings["CLIENT_SECRET"]:
        raise ConfigError(
            f"no client secret: run `idp demo` (writes instance/{name}-client.json) "
            f"or set {prefix}_CLIENT_SECRET"
        )
