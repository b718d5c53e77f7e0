"""Account protection over real HTTP, as an attacker and as the citizen meet it: wrong codes
counted per account, lockout that parallel right passwords never trigger, lock spraying, the
owner's way back in, code budgets that strangers cannot drain, the exact resend cooldown.

Where counting is involved the test runs on SQLite and on PostgreSQL (serve_provider_on)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import select
from test_auth_login import EMAIL, PHONE, resend, submit_code, submit_password
from test_auth_registration import Browser, citizen_fields

from idp.auth import lockout
from idp.cli import create_user
from idp.models import AuditEvent, db

from conftest import ARTA, CITIZEN_NID, PASSWORD
from oauth_helpers import csrf_token, last_code, outbox_messages

ANSWER = "Tiranë"


def events(app, event: str, outcome: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.event == event)
        if outcome is not None:
            query = query.where(AuditEvent.outcome == outcome)
        return list(db.session.execute(query.order_by(AuditEvent.id)).scalars())


def lock_of(app, identifier: str = CITIZEN_NID, kind: str = "citizen"):
    with app.test_request_context():
        return lockout.lock_of(kind, identifier)


def with_arta(server):
    with server.app.app_context():
        create_user(**ARTA, security_question="first_school", security_answer=ANSWER)
    return server


def wrong_code(app) -> str:
    return f"{(int(last_code(app)) + 1) % 1_000_000:06d}"


# -- wrong codes are counted per account ------------------------------------------------------


def test_sixty_wrong_codes_over_twelve_sign_ins_lock_the_account_at_the_configured_count(
    serve_provider_on,
):
    limit = 10  # the default of IDP_OTP_ACCOUNT_MAX_FAILURES
    provider = with_arta(serve_provider_on(OTP_RESEND_COOLDOWN=0, OTP_ACCOUNT_MAX_FAILURES=limit))
    answers = []
    for _ in range(12):
        browser = requests.Session()
        page = submit_password(browser, provider, CITIZEN_NID)
        answers.append(page.status_code)
        if page.status_code != 200:
            continue
        for _ in range(5):
            answered = submit_code(browser, provider, wrong_code(provider.app))
            answers.append(answered.status_code)
            if answered.status_code != 400:
                break
    # Exactly `limit` wrong codes were judged, over the first sign-ins; the one that reached the
    # limit locked the account, and none of the later passwords was even evaluated.
    assert len(events(provider.app, "code.verified", "failed")) == limit
    sign_ins_with_codes = -(-limit // 5)
    assert answers[-(12 - sign_ins_with_codes) :] == [403] * (12 - sign_ins_with_codes)
    lock = lock_of(provider.app)
    assert lock is not None and lock.cause == "code"
    assert [e.detail["cause"] for e in events(provider.app, "account.locked")] == ["code"]
    notices = [m for m in outbox_messages(provider.app) if "127.0.0.0/24" in m["text"]]
    assert [m["to"] for m in notices] == [EMAIL]
    # Even the right password and then the right code do not get in now.
    assert submit_password(requests.Session(), provider, CITIZEN_NID).status_code == 403


def test_a_right_code_resets_the_count_of_wrong_codes(serve_provider):
    provider = with_arta(serve_provider(OTP_RESEND_COOLDOWN=0, OTP_ACCOUNT_MAX_FAILURES=4))
    for _ in range(2):
        browser = requests.Session()
        submit_password(browser, provider, CITIZEN_NID)
        for _ in range(3):
            assert submit_code(browser, provider, wrong_code(provider.app)).status_code == 400
        done = submit_code(browser, provider, last_code(provider.app))
        assert done.url.endswith("/account")
    assert lock_of(provider.app) is None


def test_wrong_codes_in_a_contact_change_with_a_stolen_session_lock_and_end_that_session(
    serve_provider,
):
    provider = with_arta(serve_provider(OTP_RESEND_COOLDOWN=0, OTP_ACCOUNT_MAX_FAILURES=7))
    thief = requests.Session()
    submit_password(thief, provider, CITIZEN_NID)
    assert submit_code(thief, provider, last_code(provider.app)).url.endswith("/account")
    statuses = []
    while len(statuses) < 10:
        page = thief.get(f"{provider.url}/account/contact")
        if page.status_code != 200 or not page.url.endswith("/account/contact"):
            break
        asked = thief.post(
            f"{provider.url}/account/contact",
            data={"csrf_token": csrf_token(page.text), "email": "thief@example.net"},
        )
        if not asked.url.endswith("/code"):
            statuses.append(asked.status_code)
            break
        for _ in range(5):
            statuses.append(submit_code(thief, provider, wrong_code(provider.app)).status_code)
            if statuses[-1] != 400:
                break
    assert statuses[:6] == [400] * 5 + [400] and 403 in statuses
    assert len(events(provider.app, "code.verified", "failed")) == 7
    # The stolen session has ended, and the e-mail on record is unchanged.
    assert thief.get(f"{provider.url}/account").url.endswith("/login")
    assert lock_of(provider.app).cause == "code"


# -- lockout never refuses a right password ---------------------------------------------------


def test_eight_parallel_right_passwords_get_no_locked_answer_and_leave_the_account_open(
    serve_provider_on,
):
    provider = with_arta(serve_provider_on())
    browsers = [requests.Session() for _ in range(8)]
    tokens = [csrf_token(b.get(f"{provider.url}/login").text) for b in browsers]
    start = threading.Barrier(8)

    def sign_in(index):
        start.wait()
        return browsers[index].post(
            f"{provider.url}/login",
            data={"csrf_token": tokens[index], "nid": CITIZEN_NID, "password": PASSWORD},
        )

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(sign_in, range(8)))
    assert [a.status_code for a in answers].count(403) == 0
    assert all(a.url.endswith("/code") or a.status_code == 429 for a in answers)
    for busy in (a for a in answers if a.status_code == 429):
        assert int(busy.headers["Retry-After"]) >= 1
    assert any(a.url.endswith("/code") for a in answers)
    assert events(provider.app, "login.password", "failed") == []
    assert lock_of(provider.app) is None
    assert submit_password(requests.Session(), provider, CITIZEN_NID).url.endswith("/code")


def test_spraying_twelve_accounts_from_one_address_locks_at_most_the_configured_number(
    serve_provider_on,
):
    # The per-address failure limit is raised so that this test sees the lock limit alone; the
    # provider trusts X-Forwarded-For so that the owner can come from another address.
    provider = serve_provider_on(IP_FAILURE_LIMIT=1000, TRUSTED_PROXIES=1)
    victims = [
        "J00101000R", "J00101001C", "J00101002K", "J00101003S", "J00101004D", "J00101005L",
        "J00101006T", "J00101007E", "J00101008M", "J00101009U", "J00101010B", "J00101011J",
    ]  # fmt: skip
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    with provider.app.app_context():
        for n, nid in enumerate(victims):
            create_user(
                kind="citizen", identifier=nid, password=PASSWORD, email=f"v{n}@example.org"
            )

    def spray(nid):
        answers = []
        for _ in range(3):
            browser = requests.Session()
            browser.headers.update(attacker)
            answers.append(submit_password(browser, provider, nid, "wrong guess!!").status_code)
        return answers

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(spray, victims))
    locked = [nid for nid in victims if lock_of(provider.app, nid) is not None]
    assert len(locked) <= provider.app.config["ADDRESS_MAX_LOCKS"]
    assert len(locked) >= 1
    assert sum(a.count(429) for a in answers) >= 12 - len(locked)
    # The accounts that were spared still open with the right password, from the owner's place.
    spared = next(nid for nid in victims if nid not in locked)
    owner = requests.Session()
    owner.headers.update({"X-Forwarded-For": "198.51.100.7"})
    assert submit_password(owner, provider, spared).url.endswith("/code")


# -- the owner gets back in ------------------------------------------------------------------


def lock_by_wrong_passwords(provider, identifier: str = CITIZEN_NID) -> None:
    for _ in range(3):
        submit_password(requests.Session(), provider, identifier, "an attacker's guess")
    assert lock_of(provider.app, identifier) is not None


def test_the_locked_page_and_the_owners_email_say_what_from_where_until_when_and_how_back(
    serve_provider,
):
    provider = with_arta(serve_provider())
    lock_by_wrong_passwords(provider)
    locked = requests.Session()
    locked.cookies.set("idp_lang", "en")
    answer = submit_password(locked, provider, CITIZEN_NID)
    assert answer.status_code == 403
    assert "127.0.0.0/24" in answer.text and "/recovery" in answer.text
    assert "login@e-albania.al" in answer.text
    [notice] = [m for m in outbox_messages(provider.app) if m["to"] == EMAIL]
    assert "127.0.0.0/24" in notice["text"] and "/recovery" in notice["text"]


def test_the_owner_recovers_a_locked_account_and_signs_in(serve_provider):
    provider = with_arta(serve_provider())
    lock_by_wrong_passwords(provider)
    owner = Browser(provider)
    started = owner.submit("/recovery", {"nid": CITIZEN_NID})
    assert started.status_code == 303 and started.headers["Location"].endswith("/question")
    coded = owner.submit("/recovery/question", {"answer": ANSWER})
    assert coded.headers["Location"].endswith("/code")
    assert (
        owner.enter_code(last_code(provider.app, to=PHONE))
        .headers["Location"]
        .endswith("/recovery/password")
    )
    new_password = "a brand new passphrase 42"
    done = owner.submit(
        "/recovery/password", {"password": new_password, "password_confirm": new_password}
    )
    assert done.status_code == 200
    assert lock_of(provider.app) is None
    assert [e.detail["by"] for e in events(provider.app, "account.unlocked")] == ["reset"]
    browser = requests.Session()
    assert submit_password(browser, provider, CITIZEN_NID, new_password).url.endswith("/code")
    assert submit_code(browser, provider, last_code(provider.app)).url.endswith("/account")


def sign_out_but_keep_the_device(browser: requests.Session) -> None:
    for cookie in list(browser.cookies):
        if cookie.name == "idp_sso":
            browser.cookies.clear(cookie.domain, cookie.path, cookie.name)
    assert "idp_device" in browser.cookies


def test_a_browser_the_owner_signed_in_with_may_still_sign_in_while_others_lock_the_account(
    serve_provider,
):
    provider = with_arta(serve_provider())
    owner = requests.Session()
    submit_password(owner, provider, CITIZEN_NID)
    assert submit_code(owner, provider, last_code(provider.app)).url.endswith("/account")
    sign_out_but_keep_the_device(owner)
    lock_by_wrong_passwords(provider)

    # Anyone else, even with the right password, is refused...
    assert submit_password(requests.Session(), provider, CITIZEN_NID).status_code == 403
    # ...but the owner's browser gets in, with the code as always.
    assert submit_password(owner, provider, CITIZEN_NID).url.endswith("/code")
    assert submit_code(owner, provider, last_code(provider.app)).url.endswith("/account")
    trusted = [
        e for e in events(provider.app, "login.password", "ok") if e.detail.get("trusted_device")
    ]
    assert len(trusted) == 1
    # The lock holds for everyone else.
    assert lock_of(provider.app) is not None


def test_the_owners_browser_has_three_attempts_of_its_own_during_a_lock(serve_provider):
    provider = with_arta(serve_provider())
    owner = requests.Session()
    submit_password(owner, provider, CITIZEN_NID)
    submit_code(owner, provider, last_code(provider.app))
    lock_by_wrong_passwords(provider)
    for _ in range(2):
        assert submit_password(owner, provider, CITIZEN_NID, "typo typo typo").status_code == 400
    assert submit_password(owner, provider, CITIZEN_NID, "typo typo typo").status_code == 403
    assert submit_password(owner, provider, CITIZEN_NID).status_code == 403


def test_a_forged_device_cookie_buys_nothing(serve_provider):
    provider = with_arta(serve_provider())
    lock_by_wrong_passwords(provider)
    forger = requests.Session()
    forger.cookies.set("idp_device", "eyJpZCI6ImEiLCJhY2NvdW50cyI6W119.forged.signature")
    assert submit_password(forger, provider, CITIZEN_NID).status_code == 403


# -- code budgets ----------------------------------------------------------------------------


def test_twenty_anonymous_registrations_for_a_victims_contacts_leave_her_sign_in_codes_flowing(
    serve_provider,
):
    provider = with_arta(serve_provider())
    for n in range(20):
        stranger = Browser(provider)
        stranger.submit(
            "/register",
            citizen_fields(nid="J00101998O" if n % 2 else "J00101997G", phone=PHONE, email=EMAIL),
        )
    to_victim = [m for m in outbox_messages(provider.app) if m["to"] == PHONE]
    assert len(to_victim) <= provider.app.config["OTP_MAX_PER_DESTINATION_HOUR"]
    before = len(outbox_messages(provider.app))
    victim = requests.Session()
    assert submit_password(victim, provider, CITIZEN_NID).url.endswith("/code")
    new = outbox_messages(provider.app)[before:]
    assert {(m["channel"], m["to"]) for m in new} == {("sms", PHONE), ("email", EMAIL)}
    assert submit_code(victim, provider, last_code(provider.app, to=PHONE)).url.endswith("/account")


def test_a_resend_half_a_second_before_the_cooldown_ends_sends_nothing(serve_provider):
    provider = with_arta(serve_provider(OTP_RESEND_COOLDOWN=2))
    browser = requests.Session()
    submit_password(browser, provider, CITIZEN_NID)
    sent = len(outbox_messages(provider.app))
    time.sleep(1.5)
    resend(browser, provider)
    assert len(outbox_messages(provider.app)) == sent
    time.sleep(0.6)
    resend(browser, provider)
    assert len(outbox_messages(provider.app)) == sent + 2
