"""Security settings that must hold in every deployment."""

from __future__ import annotations

from idp.config import DEFAULTS
from idp.security import Passwords, digest, secret_matches


def test_production_argon2id_defaults_meet_owasp_minimum():
    # OWASP Password Storage Cheat Sheet: argon2id with m >= 19 MiB, t >= 2, p = 1.
    assert DEFAULTS["ARGON2_MEMORY_COST"] >= 19456
    assert DEFAULTS["ARGON2_TIME_COST"] >= 2
    assert DEFAULTS["ARGON2_PARALLELISM"] >= 1
    hashed = Passwords(
        DEFAULTS["ARGON2_TIME_COST"], DEFAULTS["ARGON2_MEMORY_COST"], DEFAULTS["ARGON2_PARALLELISM"]
    ).hash("a password")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_unknown_accounts_are_verified_against_a_dummy_hash():
    passwords = Passwords(1, 8, 1)
    assert passwords.verify(None, "anything") is False
    assert passwords.verify(passwords.hash("right"), "right") is True
    assert passwords.verify("not a hash", "right") is False


def test_generated_secrets_are_stored_as_sha256():
    assert len(digest("secret")) == 64
    assert secret_matches("secret", digest("secret"))
    assert not secret_matches("secret", digest("other"))
    assert not secret_matches("", digest(""))


def test_pages_carry_strict_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_https_deployments_use_host_prefixed_secure_cookies(make_app):
    app = make_app(ISSUER="https://login.example.gov.al")
    response = app.test_client().get("/login", base_url="https://login.example.gov.al")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-") and "Secure" in cookie
    assert "max-age=" in response.headers["Strict-Transport-Security"]
