"""Security settings that must hold in every deployment."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from idp import config
from idp.cli import create_user
from idp.config import DEFAULTS
from idp.models import AuditEvent, db
from idp.security import (
    HASHING_RETRY_AFTER,
    HashingBusy,
    Passwords,
    SealBroken,
    digest,
    seal,
    secret_matches,
    unseal,
)

from conftest import ARTA, CITIZEN_NID, PASSWORD
from oauth_helpers import csrf_token


def production_passwords() -> Passwords:
    return Passwords(
        DEFAULTS["ARGON2_TIME_COST"],
        DEFAULTS["ARGON2_MEMORY_COST"],
        DEFAULTS["ARGON2_PARALLELISM"],
        memory_budget=DEFAULTS["ARGON2_MEMORY_BUDGET"],
        queue_timeout=DEFAULTS["ARGON2_QUEUE_TIMEOUT"],
    )


def cheap_passwords(memory_budget: int = 8, queue_timeout: float = 0) -> Passwords:
    return Passwords(1, 8, 1, memory_budget=memory_budget, queue_timeout=queue_timeout)


def test_production_argon2id_defaults_meet_owasp_minimum():
    # OWASP Password Storage Cheat Sheet: argon2id with m >= 19 MiB, t >= 2, p = 1.
    assert DEFAULTS["ARGON2_MEMORY_COST"] >= 19456
    assert DEFAULTS["ARGON2_TIME_COST"] >= 2
    assert DEFAULTS["ARGON2_PARALLELISM"] >= 1
    hashed = production_passwords().hash("a password")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_production_argon2id_memory_is_bounded_per_process_without_starving_sign_ins():
    passwords = production_passwords()
    # Enough hashes at once for a threaded worker's sign-ins; few enough that their memory
    # (at most the budget: 256 MiB by default) cannot push a worker out of memory.
    assert 8 <= passwords.slots <= 32
    assert passwords.slots * DEFAULTS["ARGON2_MEMORY_COST"] <= DEFAULTS["ARGON2_MEMORY_BUDGET"]
    assert DEFAULTS["ARGON2_MEMORY_BUDGET"] <= 512 * 1024
    # A brief burst waits for a slot; a long one is refused before requests pile up.
    assert 1 <= DEFAULTS["ARGON2_QUEUE_TIMEOUT"] <= 5


def test_production_address_limits_let_an_office_or_a_carrier_nat_through():
    for name in ("REGISTRATION_PER_ADDRESS_HOUR", "RECOVERY_PER_ADDRESS_HOUR"):
        assert 30 <= DEFAULTS[name] <= 1000, name
    # Two codes per registration (SMS and e-mail): the code budget must not stop them first.
    assert DEFAULTS["REGISTRATION_PER_ADDRESS_HOUR"] * 2 <= DEFAULTS["OTP_MAX_PER_ADDRESS_HOUR"]


@pytest.mark.parametrize(
    "changes",
    [
        {"ARGON2_MEMORY_BUDGET": 19455},  # below one hash
        {"ARGON2_QUEUE_TIMEOUT": -1},
        {"REGISTRATION_PER_ADDRESS_HOUR": 0},
        {"RECOVERY_PER_ADDRESS_HOUR": 0},
    ],
)
def test_unusable_hashing_and_address_limits_are_refused_at_start_up(changes):
    with pytest.raises(config.ConfigError, match=next(iter(changes))):
        config.validate({**DEFAULTS, **changes})


def test_a_hash_beyond_the_cap_is_refused_rather_than_run():
    passwords = cheap_passwords(memory_budget=8)
    assert passwords.slots == 1
    with passwords.slot():
        with pytest.raises(HashingBusy):
            passwords.hash("a password")
        with pytest.raises(HashingBusy):
            passwords.verify(None, "a password")
    assert passwords.verify(passwords.hash("a password"), "a password")  # the slot came back


def test_sealed_data_opens_only_with_its_own_key_and_unchanged():
    sealed, key = seal({"password": "lule dhe mali 77", "security_answer": "Tiranë"})
    assert "lule" not in sealed and "Tiran" not in sealed and key not in sealed
    assert unseal(sealed, key) == {"password": "lule dhe mali 77", "security_answer": "Tiranë"}
    other_sealed, other_key = seal({"password": "lule dhe mali 77"})
    assert other_key != key and other_sealed != sealed
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    for broken, with_key in [(sealed, other_key), (flipped, key), (sealed[:30], key)]:
        with pytest.raises(SealBroken):
            unseal(broken, with_key)
    for missing in (None, "", "not base64!"):
        with pytest.raises(SealBroken):
            unseal(sealed, missing)


def test_password_check_beyond_the_argon2_cap_gets_503_and_counts_no_failure(serve_provider):
    # One hash at a time and no wait: while this test holds the slot (the live server runs in
    # this process, in a thread), the server's verification finds it taken.
    live = serve_provider(ARGON2_MEMORY_BUDGET=8, ARGON2_QUEUE_TIMEOUT=0)
    with live.app.app_context():
        create_user(**ARTA)
    browser = requests.Session()
    browser.cookies.set("idp_lang", "en")
    page = browser.get(live.url + "/login", timeout=10)
    form = {"csrf_token": csrf_token(page.text), "nid": CITIZEN_NID, "password": PASSWORD}

    with live.app.extensions["idp.passwords"].slot():
        busy = browser.post(live.url + "/login", data=form, allow_redirects=False, timeout=10)

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == str(HASHING_RETRY_AFTER)
    assert "The service is busy" in busy.text
    with live.app.app_context():
        outcomes = db.session.execute(
            select(AuditEvent.outcome).where(AuditEvent.event == "login.password")
        ).scalars()
        assert list(outcomes) == []  # not evaluated, so neither a failure nor a success
    # The slot free again, the same password gets through at once: nothing was counted.
    signed_in = browser.post(live.url + "/login", data=form, allow_redirects=False, timeout=10)
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/code")


def test_unknown_accounts_are_verified_against_a_dummy_hash():
    passwords = cheap_passwords(memory_budget=1024)
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
