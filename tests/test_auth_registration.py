"""Registration over real HTTP: the form, the SMS and e-mail codes, then the account.

A `requests.Session` is the browser; codes come from the development outbox.
"""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import select

from idp import security
from idp.auth import identifiers, lockout, security_questions
from idp.cli import create_user
from idp.models import BUSINESS, CITIZEN, AuditEvent, User, db
from idp.store.sql import ShortLivedState

from oauth_helpers import csrf_token, last_code, outbox_messages

NID = "J00101999W"  # a man born 1990-01-01; the check letter fits
NID_BIRTHDATE = "1990-01-01"
NID_MISTYPED_LETTER = "J05601999A"  # a woman born 1990-06-01; the check letter does not fit
NIPT = "K22218003V"
PASSWORD = "lule dhe mali 77"
ANSWER = "Tiranë"
PHONE = "069 123 4567"
PHONE_E164 = "+355691234567"
EMAIL = "Arta.Demo@Example.org"
EMAIL_STORED = "Arta.Demo@example.org"


def citizen_fields(**changes) -> dict:
    fields = {
        "nid": NID,
        "given_name": "Arta",
        "family_name": "Demo",
        "birthdate": NID_BIRTHDATE,
        "email": EMAIL,
        "phone": PHONE,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "security_question": "first_school",
        "security_answer": ANSWER,
    }
    fields.update(changes)
    return fields


def business_fields(**changes) -> dict:
    fields = {
        "nipt": NIPT.lower(),
        "business_name": "Furra e Qytetit Shpk",
        "given_name": "Besnik",
        "family_name": "Hoxha",
        "email": "info@furra.example.org",
        "phone": "+355 69 765 4321",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "security_question": "first_street",
        "security_answer": "Rruga e Durrësit",
    }
    fields.update(changes)
    return fields


class Browser:
    """A person's browser against the live provider, pages in English."""

    def __init__(self, live):
        self.url = live.url
        self.app = live.app
        self.session = requests.Session()
        self.session.cookies.set("idp_lang", "en")

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, allow_redirects=False, timeout=10)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.session.post(self.url + path, data=data, allow_redirects=False, timeout=10)

    def submit(self, path: str, fields: dict) -> requests.Response:
        """Open the form at path and submit it with its CSRF token."""
        page = self.get(path)
        assert page.status_code == 200, page.status_code
        return self.post(path, {"csrf_token": csrf_token(page.text), **fields})

    def enter_code(self, code: str) -> requests.Response:
        page = self.get("/code")
        assert page.status_code == 200, page.status_code
        return self.post("/code", {"csrf_token": csrf_token(page.text), "otp": code})


def accounts(app) -> list[User]:
    with app.app_context():
        return list(db.session.execute(select(User)).scalars())


def assert_sent_to_code_page(response: requests.Response) -> None:
    assert response.status_code == 303, (response.status_code, response.text[:2000])
    assert response.headers["Location"].endswith("/code")


def test_citizen_registers_with_sms_then_email_code_and_signs_in(live_provider):
    browser = Browser(live_provider)
    app = live_provider.app

    assert_sent_to_code_page(browser.submit("/register", citizen_fields()))
    page = browser.get("/code")
    assert "SMS" in page.text and "+355 *** ** 67" in page.text  # where the code went
    response = browser.enter_code(last_code(app, to=PHONE_E164))
    assert_sent_to_code_page(response)
    email_step = browser.get("/code").text
    assert "A***@example.org" in email_step
    # The Albanian phone had its own code: the e-mail step must not call it foreign.
    assert "not Albanian" not in email_step

    done = browser.enter_code(last_code(app, to=EMAIL_STORED))

    assert done.status_code == 200
    assert "Registration complete" in done.text and 'href="/login"' in done.text
    [user] = accounts(app)
    assert (user.kind, user.identifier) == (CITIZEN, NID)
    assert (user.given_name, user.family_name) == ("Arta", "Demo")
    assert str(user.birthdate) == NID_BIRTHDATE
    assert (user.email, user.email_verified) == (EMAIL_STORED, True)
    assert (user.phone, user.phone_verified) == (PHONE_E164, True)
    assert user.security_question == "first_school"
    assert len(user.subject) >= 20 and NID not in user.subject
    with app.app_context():
        assert app.extensions["idp.passwords"].verify(user.password_hash, PASSWORD)
        assert app.extensions["idp.passwords"].verify(user.security_answer_hash, "tirane")

    signed_in = sign_in(browser, NID, PASSWORD)
    assert signed_in.headers["Location"].endswith("/account")
    account = browser.get("/account")
    assert account.status_code == 200 and "Arta Demo" in account.text


def sign_in(browser: Browser, identifier: str, password: str) -> requests.Response:
    response = browser.submit("/login", {"nid": identifier, "password": password})
    assert_sent_to_code_page(response)
    response = browser.enter_code(last_code(browser.app))
    assert response.status_code == 303, response.text[:2000]
    return response


def test_business_registers_with_its_nipt(live_provider):
    browser = Browser(live_provider)
    app = live_provider.app

    assert_sent_to_code_page(browser.submit("/register/business", business_fields()))
    assert_sent_to_code_page(browser.enter_code(last_code(app, to="+355697654321")))
    done = browser.enter_code(last_code(app, to="info@furra.example.org"))

    assert done.status_code == 200, done.text[:2000]
    [user] = accounts(app)
    assert (user.kind, user.identifier, user.business_name) == (
        BUSINESS,
        NIPT,
        "Furra e Qytetit Shpk",
    )
    assert (user.given_name, user.family_name, user.birthdate) == ("Besnik", "Hoxha", None)
    assert user.phone_verified and user.email_verified
    response = browser.submit(
        "/login", {"nid": NIPT, "password": PASSWORD, "account_type": "business"}
    )
    assert_sent_to_code_page(response)


def test_foreign_phone_is_not_confirmed_and_only_the_email_gets_a_code(live_provider):
    browser = Browser(live_provider)
    app = live_provider.app

    response = browser.submit("/register", citizen_fields(phone="0039 312 345 6789"))

    assert_sent_to_code_page(response)
    messages = outbox_messages(app)
    assert [(m["channel"], m["to"]) for m in messages] == [("email", EMAIL_STORED)]
    page = browser.get("/code")
    assert "SMS" not in page.text and "not Albanian" in page.text
    done = browser.enter_code(last_code(app, to=EMAIL_STORED))
    assert done.status_code == 200
    assert "phone number is not confirmed" in done.text
    [user] = accounts(app)
    assert (user.phone, user.phone_verified, user.email_verified) == ("+393123456789", False, True)


def test_birth_date_must_match_the_nid(live_provider):
    browser = Browser(live_provider)

    response = browser.submit("/register", citizen_fields(birthdate="1990-01-02"))

    assert response.status_code == 400
    assert "does not match your personal number" in response.text
    assert outbox_messages(live_provider.app) == []


def test_birth_date_is_required(live_provider):
    browser = Browser(live_provider)

    response = browser.submit("/register", citizen_fields(birthdate=""))

    assert response.status_code == 400
    assert response.text.count("Enter your date of birth, as on your ID card.") == 1


def test_malformed_nid_is_refused(live_provider):
    browser = Browser(live_provider)
    for nid in ("J0010199W", "J01301999W", "X00101999W", "12345678"):
        assert not identifiers.is_valid_nid(nid)
        response = browser.submit("/register", citizen_fields(nid=nid))
        assert response.status_code == 400, nid
        assert "not a valid personal number" in response.text
    assert outbox_messages(live_provider.app) == []


def test_mistyped_check_letter_needs_the_confirmation_box(live_provider):
    assert identifiers.is_valid_nid(NID_MISTYPED_LETTER)
    assert not identifiers.nid_check_letter_matches(NID_MISTYPED_LETTER)
    assert str(identifiers.nid_birthdate(NID_MISTYPED_LETTER)) == "1990-06-01"
    browser = Browser(live_provider)
    fields = citizen_fields(nid=NID_MISTYPED_LETTER, birthdate="1990-06-01", given_name="Ana")

    warned = browser.submit("/register", fields)

    assert warned.status_code == 400
    assert "Did you mistype it?" in warned.text and 'name="confirm_nid"' in warned.text
    assert outbox_messages(live_provider.app) == []
    assert_sent_to_code_page(browser.submit("/register", {**fields, "confirm_nid": "y"}))


def test_common_password_is_refused(live_provider):
    browser = Browser(live_provider)

    response = browser.submit(
        "/register", citizen_fields(password="fjalekalimi123", password_confirm="fjalekalimi123")
    )

    assert response.status_code == 400
    assert "lists of common passwords" in response.text


def test_password_containing_the_name_is_refused(live_provider):
    browser = Browser(live_provider)
    password = "Arta Demo 1990x"

    response = browser.submit(
        "/register", citizen_fields(password=password, password_confirm=password)
    )

    assert response.status_code == 400
    assert "Do not use your personal number" in response.text


def test_mismatching_confirmation_is_refused(live_provider):
    browser = Browser(live_provider)

    response = browser.submit("/register", citizen_fields(password_confirm=PASSWORD + "!"))

    assert response.status_code == 400
    assert "The two passwords are not the same." in response.text
    assert outbox_messages(live_provider.app) == []


def test_invalid_phone_and_email_are_refused(live_provider):
    browser = Browser(live_provider)

    response = browser.submit("/register", citizen_fields(phone="12345", email="arta@"))

    assert response.status_code == 400
    assert "not a valid mobile number" in response.text
    assert "not a valid e-mail address" in response.text


def test_five_wrong_codes_end_the_registration(live_provider):
    browser = Browser(live_provider)
    app = live_provider.app
    assert_sent_to_code_page(browser.submit("/register", citizen_fields()))
    right = last_code(app, to=PHONE_E164)
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    for _ in range(4):
        assert browser.enter_code(wrong).status_code == 400
    ended = browser.enter_code(wrong)

    assert ended.status_code == 400 and "Too many wrong codes" in ended.text
    assert browser.get("/code").status_code == 400  # the right code has nowhere to go now
    assert accounts(app) == []


def test_nothing_is_stored_before_the_last_code(live_provider):
    browser = Browser(live_provider)
    app = live_provider.app

    assert_sent_to_code_page(browser.submit("/register", citizen_fields()))
    assert accounts(app) == []
    assert_sent_to_code_page(browser.enter_code(last_code(app, to=PHONE_E164)))
    assert accounts(app) == []

    # The pending registration holds the secrets sealed: neither hashed yet nor readable.
    stored = stored_state(app)
    assert '"sealed_secrets": "' in stored and "$argon2" not in stored
    assert PASSWORD not in stored and ANSWER not in stored and "tirane" not in stored

    browser.enter_code(last_code(app, to=EMAIL_STORED))
    assert len(accounts(app)) == 1


def stored_state(app) -> str:
    """Everything in the short-lived store, as one text."""
    with app.app_context():
        return " ".join(db.session.execute(select(ShortLivedState.value)).scalars())


def count_hashes(app) -> list[str]:
    """Record every argon2id hash the provider computes from now on (the live server runs in
    this process, so its Passwords service is the one in app.extensions)."""
    passwords = app.extensions["idp.passwords"]
    hashed = []
    original = passwords.hash

    def hash_and_count(secret: str) -> str:
        hashed.append(secret)
        return original(secret)

    passwords.hash = hash_and_count
    return hashed


def test_secrets_are_hashed_only_after_every_code_and_wait_sealed_until_then(live_provider):
    browser = Browser(live_provider)
    app = live_provider.app
    hashed = count_hashes(app)

    assert_sent_to_code_page(browser.submit("/register", citizen_fields()))
    assert_sent_to_code_page(browser.enter_code(last_code(app, to=PHONE_E164)))

    assert hashed == []
    stored = stored_state(app)
    assert "$argon2" not in stored and PASSWORD not in stored and "tirane" not in stored
    # The key is in this browser's cookie, the ciphertext in the store: each alone is useless.
    key = live_provider.session_of(browser.session)["registration_key"]
    assert key not in stored
    with app.app_context():
        [sealed] = [
            json.loads(value)["data"]["sealed_secrets"]
            for value in db.session.execute(select(ShortLivedState.value)).scalars()
            if "sealed_secrets" in value
        ]
    assert security.unseal(sealed, key) == {"password": PASSWORD, "security_answer": ANSWER}
    with pytest.raises(security.SealBroken):
        security.unseal(sealed, security.seal({})[1])

    done = browser.enter_code(last_code(app, to=EMAIL_STORED))

    assert done.status_code == 200 and "Registration complete" in done.text
    assert len(hashed) == 2  # the password and the answer, once each
    [user] = accounts(app)
    with app.app_context():
        assert app.extensions["idp.passwords"].verify(user.password_hash, PASSWORD)
        assert security_questions.answer_matches(user, ANSWER)
    assert "registration_key" not in live_provider.session_of(browser.session)
    assert "sealed_secrets" not in stored_state(app)


def test_registrations_from_one_address_beyond_the_limit_get_429_with_retry_after(
    serve_provider,
):
    live = serve_provider(REGISTRATION_PER_ADDRESS_HOUR=2)
    for n in range(2):
        browser = Browser(live)
        response = browser.submit("/register", citizen_fields(email=f"person{n}@example.org"))
        assert_sent_to_code_page(response)
    sent = len(outbox_messages(live.app))

    refused = Browser(live).submit("/register/business", business_fields())

    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Too many requests came from your network" in refused.text
    assert len(outbox_messages(live.app)) == sent  # no code for the refused one


def test_invalid_forms_do_not_count_towards_the_address_limit(serve_provider):
    live = serve_provider(REGISTRATION_PER_ADDRESS_HOUR=1)
    browser = Browser(live)
    for _ in range(3):
        assert browser.submit("/register", citizen_fields(phone="12345")).status_code == 400

    assert_sent_to_code_page(browser.submit("/register", citizen_fields()))


def test_registration_meeting_busy_hashing_gets_503_and_finishes_with_one_click(serve_provider):
    # One argon2id hash at a time, and no waiting for it: holding the one slot here makes the
    # server's hash at the end of the registration find it taken.
    live = serve_provider(ARGON2_MEMORY_BUDGET=8, ARGON2_QUEUE_TIMEOUT=0)
    app = live.app
    browser = Browser(live)
    assert_sent_to_code_page(browser.submit("/register", citizen_fields()))
    assert_sent_to_code_page(browser.enter_code(last_code(app, to=PHONE_E164)))

    with app.extensions["idp.passwords"].slot():
        busy = browser.enter_code(last_code(app, to=EMAIL_STORED))

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == str(security.HASHING_RETRY_AFTER)
    assert "The service is busy" in busy.text and 'action="/register/finish"' in busy.text
    assert accounts(app) == []
    done = browser.post("/register/finish", {"csrf_token": csrf_token(busy.text)})
    assert done.status_code == 200 and "Registration complete" in done.text
    [user] = accounts(app)
    with app.app_context():
        assert app.extensions["idp.passwords"].verify(user.password_hash, PASSWORD)
    again = browser.post("/register/finish", {"csrf_token": csrf_token(busy.text)})
    assert again.status_code == 400  # finished once: nothing left to finish
    assert len(accounts(app)) == 1


def test_finishing_needs_every_code_confirmed(live_provider):
    browser = Browser(live_provider)
    page = browser.get("/register")
    assert_sent_to_code_page(
        browser.post("/register", {"csrf_token": csrf_token(page.text), **citizen_fields()})
    )

    response = browser.post("/register/finish", {"csrf_token": csrf_token(page.text)})

    assert response.status_code == 400
    assert accounts(live_provider.app) == []


def test_registering_a_taken_nid_tells_only_after_the_codes_and_notifies_the_owner(
    live_provider,
):
    app = live_provider.app
    with app.app_context():
        create_user(
            kind=CITIZEN,
            identifier=NID,
            password="the owner's own passphrase",
            given_name="Arta",
            family_name="Demo",
            email="owner@example.org",
            phone="+355690000001",
        )
    browser = Browser(live_provider)

    # The form looks exactly as for a free NID.
    response = browser.submit("/register", citizen_fields(email="someone@example.net"))
    assert_sent_to_code_page(response)
    assert_sent_to_code_page(browser.enter_code(last_code(app, to=PHONE_E164)))
    refused = browser.enter_code(last_code(app, to="someone@example.net"))

    assert refused.status_code == 409
    assert "already exists" in refused.text and 'href="/recovery"' in refused.text
    [owner] = accounts(app)
    assert owner.email == "owner@example.org"
    notice = outbox_messages(app)[-1]
    assert notice["to"] == "owner@example.org" and notice["channel"] == "email"
    assert "Nuk u krijua asnjë llogari" in notice["text"]
    with app.app_context():
        outcome = db.session.execute(
            select(AuditEvent.outcome).where(AuditEvent.event == "registration")
        ).scalar_one()
    assert outcome == "refused"


def test_missing_csrf_token_is_refused(live_provider):
    browser = Browser(live_provider)
    browser.get("/register")

    response = browser.post("/register", citizen_fields())

    assert response.status_code == 400
    assert outbox_messages(live_provider.app) == []


def test_throttled_address_is_refused_before_the_form_is_checked(live_provider):
    app = live_provider.app
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        for _ in range(app.config["IP_FAILURE_LIMIT"]):
            lockout.count_address_failure()
    browser = Browser(live_provider)

    response = browser.submit("/register", citizen_fields())

    assert response.status_code == 429
    assert outbox_messages(app) == []


def test_pages_are_albanian_by_default_and_english_on_request(live_provider):
    browser = requests.Session()

    albanian = browser.get(live_provider.url + "/register", timeout=10)
    english = browser.get(live_provider.url + "/register/business?lang=en", timeout=10)

    assert '<html lang="sq">' in albanian.text
    assert '<html lang="en">' in english.text and "Register a business" in english.text
