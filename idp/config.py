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

from . import outbound

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
    # Seconds after a rotation during which the same client presenting the just-rotated refresh
    # token gets the same successor again (a lost response), instead of reuse revoking the
    # family. 0 turns it off (RFC 9700 §4.14.2 strict rotation).
    "REFRESH_REUSE_INTERVAL": 0,
    # How far ahead a client assertion's `exp` may be (private_key_jwt, client_secret_jwt).
    "CLIENT_ASSERTION_MAX_LIFETIME": 300,
    # How long a sign-in lasts for single sign-on (a working day).
    "SESSION_LIFETIME": 28800,
    # How long a person may take between the authorization request and finishing login/consent.
    "AUTHORIZATION_REQUEST_LIFETIME": 1800,
    # JWKS Cache-Control max-age; a new key must be published at least this long before it signs.
    "JWKS_MAX_AGE": 300,
    # Algorithms the key store keeps a current key for (RS256 is required: OIDC Core §15.1).
    "KEY_ALGORITHMS": ["RS256", "PS256", "ES256", "EdDSA"],
    # Age in days after which `keys rotate --if-due` replaces a signing key.
    "KEY_ROTATION_AGE": 90,
    # Seconds between a node's looks at the key directory for other nodes' changes.
    "KEYS_CHECK_INTERVAL": 5,
    # argon2id for passwords: OWASP's minimum (m=19 MiB, t=2, p=1). Tests lower these.
    "ARGON2_TIME_COST": 2,
    "ARGON2_MEMORY_COST": 19456,
    "ARGON2_PARALLELISM": 1,
    # KiB the argon2id hashes of one process may use at once (256 MiB: 13 hashes at the cost
    # above), and whole seconds a hash may wait for a slot before the request gets 503.
    "ARGON2_MEMORY_BUDGET": 262144,
    "ARGON2_QUEUE_TIMEOUT": 2,
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
    # -- The e-Albania login --
    # One-time codes: validity (docs/domain.md: about 180 s; NIST SP 800-63B allows up to 10 min),
    # the wait before another code may be sent, and limits per login transaction.
    "OTP_LIFETIME": 180,
    "OTP_RESEND_COOLDOWN": 30,
    "OTP_MAX_SENDS": 5,
    "OTP_MAX_ATTEMPTS": 5,
    # Wrong codes in a row per account, across all its transactions, before it locks like wrong
    # passwords (NIST SP 800-63B §5.2.2: at most 100).
    "OTP_ACCOUNT_MAX_FAILURES": 10,
    # Codes to an account's own contacts per account and hour (only its owner can spend them).
    "OTP_MAX_PER_ACCOUNT_HOUR": 20,
    # Codes to unproved destinations (registration, new contacts) per destination and per source
    # address within an hour: stops the forms from flooding someone's phone or running up the
    # SMS bill. The address figure is sized for an office or a mobile carrier's NAT.
    "OTP_MAX_PER_DESTINATION_HOUR": 10,
    "OTP_MAX_PER_ADDRESS_HOUR": 200,
    # Registrations and recoveries started per source address within an hour (an office or a
    # mobile carrier's NAT must get through: 100 registrations is what 200 codes allow).
    "REGISTRATION_PER_ADDRESS_HOUR": 100,
    "RECOVERY_PER_ADDRESS_HOUR": 50,
    # How long a login, recovery or registration may take from its first step to its last.
    "LOGIN_TRANSACTION_LIFETIME": 900,
    # Wrong passwords in a row that lock an account, and for how long (e-Albania: 3 for 3 hours).
    "LOCKOUT_THRESHOLD": 3,
    "LOCKOUT_DURATION": 10800,
    # Failed sign-ins from one source address within the window before it is refused with 429
    # (password spraying across many accounts).
    "IP_FAILURE_LIMIT": 30,
    "IP_FAILURE_WINDOW": 900,
    # Accounts one source address may drive into lockout per window (lock spraying).
    "ADDRESS_MAX_LOCKS": 3,
    "ADDRESS_LOCK_WINDOW": 3600,
    # How long a browser where an account signed in stays trusted to try during a lock (OWASP
    # device cookies): 180 days.
    "DEVICE_COOKIE_LIFETIME": 15552000,
    # NIST SP 800-63B §3.1.1.2: at least 8, we ask 10; at least 64 must be allowed.
    "PASSWORD_MIN_LENGTH": 10,
    "PASSWORD_MAX_LENGTH": 256,
    # The admin API (unlock accounts) accepts this bearer credential; empty disables the API.
    "ADMIN_TOKEN": "",
    # Back-channel logout deliveries per relying party: the first at once, retries after 1, 5
    # and 30 seconds (at most 4 attempts).
    "BACKCHANNEL_LOGOUT_ATTEMPTS": 4,
    # Internal networks (CIDRs) and host names that outbound calls (back-channel logout) may
    # reach although they are private, loopback or link-local; empty: only public addresses.
    "OUTBOUND_ALLOW": [],
    # -- Delivery of codes and notices --
    # "outbox" writes each message as a JSON line to OUTBOX (development and tests only);
    # "gateway" / "smtp" deliver for real. Production refuses the outbox.
    "SMS_SENDER": "outbox",
    "MAIL_SENDER": "outbox",
    # Empty means instance/outbox.jsonl.
    "OUTBOX": "",
    # SMS through an HTTP gateway: POST to the URL with the credential in a header, the payload
    # as JSON or a form with the field names below, plus constant fields (a JSON object).
    "SMS_GATEWAY_URL": "",
    "SMS_GATEWAY_AUTH_HEADER": "Authorization",
    "SMS_GATEWAY_CREDENTIAL": "",
    "SMS_GATEWAY_FORMAT": "json",
    "SMS_GATEWAY_TO_FIELD": "to",
    "SMS_GATEWAY_TEXT_FIELD": "text",
    "SMS_GATEWAY_EXTRA_FIELDS": "{}",
    "SMS_GATEWAY_TIMEOUT": 5,
    "SMS_GATEWAY_RETRIES": 1,
    # E-mail through SMTP: "starttls" (port 587), "tls" (implicit, port 465) or "none" (a relay
    # on a trusted network only).
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 587,
    "SMTP_SECURITY": "starttls",
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_FROM": "e-Albania <no-reply@e-albania.al>",
    "SMTP_TIMEOUT": 10,
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
    key_algorithms = settings["KEY_ALGORITHMS"]
    if not set(key_algorithms) <= set(SIGNING_ALGORITHMS) or "RS256" not in key_algorithms:
        raise ConfigError(
            f"IDP_KEY_ALGORITHMS must include RS256 and be among {', '.join(SIGNING_ALGORITHMS)}"
        )
    for alg_setting in ("ID_TOKEN_SIGNING_ALG", "ACCESS_TOKEN_SIGNING_ALG"):
        if settings[alg_setting] not in key_algorithms:
            raise ConfigError(f"IDP_{alg_setting} must be one of IDP_KEY_ALGORITHMS")
    if settings["KEY_ROTATION_AGE"] < 1:
        raise ConfigError("IDP_KEY_ROTATION_AGE must be at least 1 (day)")
    if not 0 <= settings["KEYS_CHECK_INTERVAL"] <= 60:
        raise ConfigError("IDP_KEYS_CHECK_INTERVAL must be between 0 and 60 (seconds)")
    if settings["JWKS_MAX_AGE"] < 0:
        raise ConfigError("IDP_JWKS_MAX_AGE must not be negative")
    if settings["ARGON2_MEMORY_BUDGET"] < settings["ARGON2_MEMORY_COST"]:
        raise ConfigError("IDP_ARGON2_MEMORY_BUDGET must hold one hash (IDP_ARGON2_MEMORY_COST)")
    if not 0 <= settings["ARGON2_QUEUE_TIMEOUT"] <= 30:
        raise ConfigError("IDP_ARGON2_QUEUE_TIMEOUT must be between 0 and 30 (seconds)")
    for limit in ("REGISTRATION_PER_ADDRESS_HOUR", "RECOVERY_PER_ADDRESS_HOUR"):
        if settings[limit] < 1:
            raise ConfigError(f"IDP_{limit} must be at least 1")
    if not settings["LOCALES"]:
        raise ConfigError("IDP_LOCALES must name at least one language")
    if not 1 <= settings["OTP_ACCOUNT_MAX_FAILURES"] <= 100:
        raise ConfigError(
            "IDP_OTP_ACCOUNT_MAX_FAILURES must be between 1 and 100 (NIST SP 800-63B)"
        )
    if settings["SMS_SENDER"] not in ("outbox", "gateway"):
        raise ConfigError("IDP_SMS_SENDER must be 'outbox' or 'gateway'")
    if settings["MAIL_SENDER"] not in ("outbox", "smtp"):
        raise ConfigError("IDP_MAIL_SENDER must be 'outbox' or 'smtp'")
    if settings["SMS_SENDER"] == "gateway" and not settings["SMS_GATEWAY_URL"]:
        raise ConfigError("IDP_SMS_GATEWAY_URL must be set when IDP_SMS_SENDER is 'gateway'")
    if settings["SMS_GATEWAY_FORMAT"] not in ("json", "form"):
        raise ConfigError("IDP_SMS_GATEWAY_FORMAT must be 'json' or 'form'")
    if settings["SMTP_SECURITY"] not in ("starttls", "tls", "none"):
        raise ConfigError("IDP_SMTP_SECURITY must be 'starttls', 'tls' or 'none'")
    if not 0 <= settings["REFRESH_REUSE_INTERVAL"] <= 60:
        # Longer would leave a stolen token a real window (Okta caps its grace period at 60 s).
        raise ConfigError("IDP_REFRESH_REUSE_INTERVAL must be between 0 and 60 (seconds)")
    if not 30 <= settings["CLIENT_ASSERTION_MAX_LIFETIME"] <= 3600:
        raise ConfigError("IDP_CLIENT_ASSERTION_MAX_LIFETIME must be between 30 and 3600 (seconds)")
    if not isinstance(settings["OUTBOUND_ALLOW"], list):
        raise ConfigError("IDP_OUTBOUND_ALLOW must be a list of CIDRs and host names")
    try:
        outbound.parse_allow_list(settings["OUTBOUND_ALLOW"])
    except ValueError as problem:
        raise ConfigError(f"IDP_OUTBOUND_ALLOW: {problem}") from None
    if settings["ENV"] != "production":
        return
    if settings["SECRET_KEY"] in ("", INSECURE_SECRET_KEY) or len(settings["SECRET_KEY"]) < 32:
        raise ConfigError("IDP_SECRET_KEY must be set to a random value of at least 32 characters")
    if low_variety(settings["SECRET_KEY"]):
        raise ConfigError("IDP_SECRET_KEY must be random, not a repeated character or pattern")
    if not issuer.startswith("https://"):
        raise ConfigError("IDP_ISSUER must be an https:// URL in production")
    if settings["DEBUG"]:
        raise ConfigError("IDP_DEBUG must be off in production")
    if not (settings["KEY_PASSPHRASE"] or settings["KEY_PASSPHRASE_FILE"]):
        raise ConfigError("IDP_KEY_PASSPHRASE or IDP_KEY_PASSPHRASE_FILE must be set in production")
    if settings["KEY_PASSPHRASE"]:
        check_key_passphrase(settings["KEY_PASSPHRASE"], "IDP_KEY_PASSPHRASE")
    if len(settings["PAIRWISE_SALT"]) < 16:
        raise ConfigError("IDP_PAIRWISE_SALT must be set (at least 16 characters) in production")
    if "outbox" in (settings["SMS_SENDER"], settings["MAIL_SENDER"]):
        raise ConfigError(
            "IDP_SMS_SENDER and IDP_MAIL_SENDER must deliver for real in production "
            "(gateway / smtp), not to the development outbox"
        )
    if settings["SMS_GATEWAY_URL"] and not settings["SMS_GATEWAY_URL"].startswith("https://"):
        raise ConfigError("IDP_SMS_GATEWAY_URL must be https in production")
    if settings["SMTP_SECURITY"] == "none":
        raise ConfigError("IDP_SMTP_SECURITY must be starttls or tls in production")
    if settings["ADMIN_TOKEN"] and (
        len(settings["ADMIN_TOKEN"]) < 32 or low_variety(settings["ADMIN_TOKEN"])
    ):
        raise ConfigError("IDP_ADMIN_TOKEN must be at least 32 random characters")


# The signing keys' passphrase is the one secret an operator may type; shorter than this it can
# be guessed offline from a stolen key file (scrypt slows each guess, but not enough).
MIN_KEY_PASSPHRASE_LENGTH = 16
# Fewer distinct characters than this in a secret means it was typed, not generated.
MIN_DISTINCT_CHARACTERS = 8


def low_variety(secret: str) -> bool:
    """A secret that is one character repeated, few characters, or one short pattern over and
    over (``abcabcabc``): long enough to pass a length check, easy to guess all the same."""
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return True
    # A string is a repeated pattern exactly when it occurs in itself rotated (s in (s + s)[1:-1]).
    return secret in (secret + secret)[1:-1]


def check_key_passphrase(passphrase: str, name: str) -> None:
    """Production: the key passphrase, from the setting or its file (read at start-up)."""
    if len(passphrase) < MIN_KEY_PASSPHRASE_LENGTH or low_variety(passphrase):
        raise ConfigError(
            f"{name} must be at least {MIN_KEY_PASSPHRASE_LENGTH} characters and not a repeated "
            "character or pattern"
        )


# Algorithms the key store can hold and the provider can sign and verify its own tokens with.
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
