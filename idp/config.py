"""Configuration: built-in defaults < a TOML file (IDP_CONFIG) < IDP_* environment variables.

Every setting has one name. In the file it is written in lower case (``issuer = "..."``), in
the environment with the ``IDP_`` prefix (``IDP_ISSUER``), and in the app as
``app.config["ISSUER"]``.
The defaults below are the only place a default lives; each says why it has that value.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

INSECURE_SECRET_KEY = "insecure-development-secret-key"

DEFAULTS: dict[str, Any] = {
    # development: demo-friendly, http allowed. production: refuses unsafe settings at start-up.
    # testing: like development, with cheap hashes chosen by the tests themselves.
    "ENV": "development",
    "DEBUG": False,
    # The issuer identifier: the exact `iss` of every token and the base of every endpoint URL.
    "ISSUER": "http://127.0.0.1:5000",
    # Signs the Flask session cookie (CSRF tokens). Production refuses the default.
    "SECRET_KEY": INSECURE_SECRET_KEY,
    # Empty means SQLite under instance/; set a postgresql:// URL at scale.
    "DATABASE_URL": "",
    # Where the signing keys live (encrypted PKCS#8 + metadata). Empty means the top-level keys/.
    "KEYS_DIR": "",
    # Passphrase that encrypts the private keys at rest, or a file holding it. In development a
    # random one is generated under instance/ on first start; production requires one of them.
    "KEY_PASSPHRASE": "",
    "KEY_PASSPHRASE_FILE": "",
    # Algorithm of ID tokens for clients that do not ask for another (OIDC Core §3.1.3.7: RS256).
    "ID_TOKEN_SIGNING_ALG": "RS256",
    # Algorithm of JWT access tokens (RFC 9068 §2.1: RS256 must be supported by resource servers).
    "ACCESS_TOKEN_SIGNING_ALG": "RS256",
    # Lifetimes in seconds. Authorization codes are short (RFC 9700 §4.5; TARA uses 30 s).
    "AUTHORIZATION_CODE_LIFETIME": 60,
    "ACCESS_TOKEN_LIFETIME": 600,
    "ID_TOKEN_LIFETIME": 600,
    # Absolute lifetime of a refresh token family from the original login.
    "REFRESH_TOKEN_LIFETIME": 86400,
    # How long a sign-in lasts for single sign-on (a working day).
    "SESSION_LIFETIME": 28800,
    # How long a person may take between the authorization request and finishing login/consent.
    "AUTHORIZATION_REQUEST_LIFETIME": 1800,
    # JWKS Cache-Control max-age; a new key must be published at least this long before it signs.
    "JWKS_MAX_AGE": 300,
    # argon2id for passwords: OWASP's minimum (m=19 MiB, t=2, p=1). Tests lower these.
    "ARGON2_TIME_COST": 2,
    "ARGON2_MEMORY_COST": 19456,
    "ARGON2_PARALLELISM": 1,
    # Salt for pairwise subject identifiers (OIDC Core §8.1). Changing it changes every pairwise
    # sub, so production requires it to be set once and kept.
    "PAIRWISE_SALT": "",
    # PKCE: "public" requires it of public clients (RFC 9700 §2.1.1 minimum), "all" of everyone.
    "PKCE_REQUIRED": "public",
    # Upper bounds on what a request may carry; larger is refused with invalid_request / 413.
    "MAX_PARAMETER_LENGTH": 4096,
    "MAX_CONTENT_LENGTH": 65536,
    # Number of reverse proxies in front of the provider whose X-Forwarded-* headers are trusted.
    "TRUSTED_PROXIES": 0,
    # Languages of the pages; the first is the default (Albanian).
    "LOCALES": ["sq", "en"],
    "SITE_NAME": "e-Albania",
    "SUPPORT_EMAIL": "login@e-albania.al",
    # eIDAS levels of assurance, as `acr` values (RFC 8176 / OIDC Core §2). Password only is "low".
    "ACR_LOW": "http://eidas.europa.eu/LoA/low",
    "ACR_SUBSTANTIAL": "http://eidas.europa.eu/LoA/substantial",
    "ACR_HIGH": "http://eidas.europa.eu/LoA/high",
}


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message names it."""


def load(
    overrides: dict[str, Any] | None = None, environ: os._Environ | dict | None = None
) -> dict:
    """Merge defaults, the IDP_CONFIG file, IDP_* variables and explicit overrides (tests)."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    path = environ.get("IDP_CONFIG")
    if path:
        settings.update(_read_file(Path(path)))
    for name, default in DEFAULTS.items():
        raw = environ.get("IDP_" + name)
        if raw is not None:
            settings[name] = _coerce(name, raw, default)
    if overrides:
        unknown = set(overrides) - set(DEFAULTS)
        settings.update({k: v for k, v in overrides.items() if k in DEFAULTS})
        # Flask and extension settings (TESTING, WTF_CSRF_ENABLED, ...) pass through unchanged.
        settings.update({k: overrides[k] for k in unknown})
    return settings


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"IDP_CONFIG points to {path}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    settings = {}
    for key, value in data.items():
        name = key.upper()
        if name not in DEFAULTS:
            raise ConfigError(f"{path}: unknown setting {key!r}")
        settings[name] = value
    return settings


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"IDP_{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"IDP_{name} must be a whole number, not {raw!r}") from None
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def validate(settings: dict) -> None:
    """Refuse to start with settings that are wrong anywhere, or unsafe in production."""
    if settings["ENV"] not in ("development", "production", "testing"):
        raise ConfigError("IDP_ENV must be development, production or testing")
    issuer = settings["ISSUER"]
    if not issuer.startswith(("https://", "http://")) or issuer.endswith("/") or "?" in issuer:
        raise ConfigError("IDP_ISSUER must be an http(s) URL without a trailing slash or query")
    if settings["PKCE_REQUIRED"] not in ("public", "all"):
        raise ConfigError("IDP_PKCE_REQUIRED must be 'public' or 'all'")
    for alg_setting in ("ID_TOKEN_SIGNING_ALG", "ACCESS_TOKEN_SIGNING_ALG"):
        if settings[alg_setting] not in SIGNING_ALGORITHMS:
            raise ConfigError(f"IDP_{alg_setting} must be one of {', '.join(SIGNING_ALGORITHMS)}")
    if not settings["LOCALES"]:
        raise ConfigError("IDP_LOCALES must name at least one language")
    if settings["ENV"] != "production":
        return
    if settings["SECRET_KEY"] in ("", INSECURE_SECRET_KEY) or len(settings["SECRET_KEY"]) < 32:
        raise ConfigError("IDP_SECRET_KEY must be set to a random value of at least 32 characters")
    if not issuer.startswith("https://"):
        raise ConfigError("IDP_ISSUER must be an https:// URL in production")
    if settings["DEBUG"]:
        raise ConfigError("IDP_DEBUG must be off in production")
    if not (settings["KEY_PASSPHRASE"] or settings["KEY_PASSPHRASE_FILE"]):
        raise ConfigError("IDP_KEY_PASSPHRASE or IDP_KEY_PASSPHRASE_FILE must be set in production")
    if len(settings["PAIRWISE_SALT"]) < 16:
        raise ConfigError("IDP_PAIRWISE_SALT must be set (at least 16 characters) in production")


# Algorithms the key store can hold and the provider can sign with.
SIGNING_ALGORITHMS = ("RS256", "ES256")
