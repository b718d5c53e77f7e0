"""Forgotten password over real HTTP: identifier, security question, one-time code, new password.

A requests session is the browser; codes come from the development outbox.
"""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from idp.cli import create_client, create_user
from idp.models import AuditEvent, db

from conftest import ARTA, BUSINESS_NIPT, CITIZEN_NID, PASSWORD
from oauth_helpers import (
    REDIRECT_URI,
    authorize_url,
    code_grant,
    csrf_token,
    last_code,
    outbox_messages,
    pkce_pair,
    query,
)

TIMEOUT = 10
PHONE = "+355690000001"
EMAIL = "arta@example.org"
FOREIGN_NID = "J05601999A"
FOREIGN_EMAIL = "besa@example.org"
UNKNOWN_NID = "J00101998V"
ANSWER = "Naim Frashëri"
NEW_PASSWORD = "lule bore mbi Tomorr"
WRONG_ANSWER = "Sami Frashëri"


@pytest.fixture
def provider(live_provider):
    with live_provider.app.app_context():
        create_user(**ARTA, security_question="first_school", security_answer=ANSWER)
        create_user(
            kind="business",
            identifier=BUSINESS_NIPT,
            password=PASSWORD,
            business_name="Demo Shpk",
            email="info@example.org",
            phone="+355690000002",
            security_question="first_teacher",
            security_answer="Hoxha",
        )
        create_user(
            kind="citizen",
            identifier=FOREIGN_NID,
            password=PASSWORD,
            email=FOREIGN_EMAIL,
            phone="+393330000003",
            security_question="favourite_dish",
            security_answer="Tavë kosi",
        )
    return live_provider


def browser_in_english(provider) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{provider.url}/recovery?lang=en", timeout=TIMEOUT)  # remembered in a cookie
    return browser


def start(browser, provider, identifier, account_type=None) -> requests.Response:
    """Ask to recover an account; follows on to the question page."""
    page = browser.get(f"{provider.url}/recovery", timeout=TIMEOUT)
    data = {"csrf_token": csrf_token(page.text), "nid": identifier}
    if account_type:
        data["account_type"] = account_type
    return browser.post(f"{provider.url}/recovery", data=data, timeout=TIMEOUT)


def any_csrf_token(browser, provider) -> str:
    """This browser's CSRF token, from a page that always has a form."""
    return csrf_token(browser.get(f"{provider.url}/recovery", timeout=TIMEOUT).text)


def answer(browser, provider, text) -> requests.Response:
    return browser.post(
        f"{provider.url}/recovery/question",
        data={"csrf_token": any_csrf_token(browser, provider), "answer": text},
        timeout=TIMEOUT,
    )


def submit_code(browser, provider, code) -> requests.Response:
    return browser.post(
        f"{provider.url}/code",
        data={"csrf_token": any_csrf_token(browser, provider), "otp": code},
        timeout=TIMEOUT,
    )


def choose_password(browser, provider, password, confirm=None) -> requests.Response:
    return browser.post(
        f"{provider.url}/recovery/password",
        data={
            "csrf_token": any_csrf_token(browser, provider),
            "password": password,
            "password_confirm": password if confirm is None else confirm,
        },
        timeout=TIMEOUT,
    )


def reset(browser, provider, identifier, answer_text, new_password, account_type=None):
    """The whole journey; returns the last page."""
    question = start(browser, provider, identifier, account_type)
    assert question.status_code == 200 and question.url.endswith("/recovery/question")
    code_page = answer(browser, provider, answer_text)
    assert code_page.status_code == 200 and code_page.url.endswith("/code"), code_page.url
    password_page = submit_code(browser, provider, last_code(provider.app))
    assert password_page.status_code == 200
    assert password_page.url.endswith("/recovery/password"), password_page.url
    return choose_password(browser, provider, new_password)


def submit_password(provider, identifier, password, browser=None, **extra) -> requests.Response:
    browser = browser or requests.Session()
    page = browser.get(f"{provider.url}/login", timeout=TIMEOUT)
    return browser.post(
        f"{provider.url}/login",
        data={
            "csrf_token": csrf_token(page.text),
            "nid": identifier,
            "password": password,
            **extra,
        },
        timeout=TIMEOUT,
    )


def sign_in(provider, identifier, password) -> requests.Session:
    """A browser with a single sign-on session."""
    browser = requests.Session()
    code_page = submit_password(provider, identifier, password, browser)
    assert code_page.url.endswith("/code"), code_page.url
    done = submit_code(browser, provider, last_code(provider.app))
    assert done.url.endswith("/account"), done.url
    return browser


def audit_events(app, event):
    with app.app_context():
        return (
            db.session.execute(select(AuditEvent).where(AuditEvent.event == event)).scalars().all()
        )


def question_of(page: requests.Response) -> str:
    return re.search(r'<p class="lead" id="question">([^<]*)</p>', page.text).group(1)


def test_citizen_resets_the_password_and_everything_the_old_one_opened_ends(provider):
    with provider.app.app_context():
        rp, secret = create_client(name="RP", redirect_uris=[REDIRECT_URI], first_party=True)
        client_id = rp.client_id
    # Before: a signed-in browser, and tokens a relying party holds.
    old_browser = sign_in(provider, CITIZEN_NID, PASSWORD)
    verifier, challenge = pkce_pair()
    to_client = old_browser.get(
        provider.url + authorize_url(client_id, challenge=challenge),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert to_client.headers["Location"].startswith(REDIRECT_URI), to_client.headers["Location"]
    tokens = requests.post(
        f"{provider.url}/token",
        data=code_grant(query(to_client.headers["Location"])["code"], verifier),
        auth=(client_id, secret),
        timeout=TIMEOUT,
    ).json()
    assert tokens["refresh_token"]

    browser = browser_in_english(provider)
    question = start(browser, provider, CITIZEN_NID)
    assert question_of(question) == "What was the name of your first school?"
    # Case, spaces and diacritics do not count.
    code_page = answer(browser, provider, "  NAIM frasheri ")
    assert code_page.url.endswith("/code")
    sent = outbox_messages(provider.app)[-2:]
    assert {(m["channel"], m["to"]) for m in sent} == {("sms", PHONE), ("email", EMAIL)}
    password_page = submit_code(browser, provider, last_code(provider.app, to=PHONE))
    assert password_page.url.endswith("/recovery/password")
    done = choose_password(browser, provider, NEW_PASSWORD)
    assert done.status_code == 200
    assert "Your password has been changed" in done.text
    assert 'href="/login"' in done.text
    # The transaction is over: the page does not work twice.
    assert choose_password(browser, provider, "another good passphrase").status_code == 400

    old = submit_password(provider, CITIZEN_NID, PASSWORD)
    assert old.status_code == 400 and old.url.endswith("/login")
    new = submit_password(provider, CITIZEN_NID, NEW_PASSWORD)
    assert new.status_code == 200 and new.url.endswith("/code")

    # The old single sign-on session asks for the password again.
    again = old_browser.get(
        provider.url + authorize_url(client_id, challenge=pkce_pair()[1]),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert again.headers["Location"].startswith("/login"), again.headers["Location"]
    assert old_browser.get(f"{provider.url}/account", timeout=TIMEOUT).url.endswith("/login")
    # The relying party's refresh and access tokens stopped working.
    refresh = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    userinfo = requests.get(
        f"{provider.url}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=TIMEOUT,
    )
    assert userinfo.status_code == 401

    # The owner is told, by e-mail: the one message to them without a code.
    (notice,) = [
        m
        for m in outbox_messages(provider.app)
        if m["to"] == EMAIL and not re.search(r"\b\d{6}\b", m["text"])
    ]
    assert provider.app.config["SUPPORT_EMAIL"] in notice["text"]
    assert [e.outcome for e in audit_events(provider.app, "notice.password_reset")] == ["ok"]
    assert [e.outcome for e in audit_events(provider.app, "password.reset")] == ["ok"]
    assert [e.outcome for e in audit_events(provider.app, "recovery.answer")] == ["ok"]
    with provider.app.app_context():
        logged = repr([(e.event, e.detail) for e in db.session.scalars(select(AuditEvent))])
    for secret_text in ("NAIM", "frasheri", "Frashëri", NEW_PASSWORD):
        assert secret_text not in logged


def test_business_account_is_reset_with_its_nipt(provider):
    browser = browser_in_english(provider)
    question = start(browser, provider, BUSINESS_NIPT, account_type="business")
    assert question_of(question) == "What was the surname of your first teacher?"
    done = reset(browser, provider, BUSINESS_NIPT, "hoxha", NEW_PASSWORD, "business")
    assert done.status_code == 200
    assert submit_password(provider, BUSINESS_NIPT, PASSWORD).status_code == 400
    new = submit_password(provider, BUSINESS_NIPT, NEW_PASSWORD, account_type="business")
    assert new.url.endswith("/code")


def test_a_wrong_answer_shows_the_same_question_with_a_generic_error(provider):
    browser = browser_in_english(provider)
    first = start(browser, provider, CITIZEN_NID)
    wrong = answer(browser, provider, WRONG_ANSWER)
    assert wrong.status_code == 400 and wrong.url.endswith("/recovery/question")
    assert question_of(wrong) == question_of(first)
    assert "This answer is not the one we have" in wrong.text
    assert WRONG_ANSWER not in wrong.text
    assert outbox_messages(provider.app) == []


def test_three_wrong_answers_lock_recovery_and_later_answers_are_not_evaluated(provider):
    browser = browser_in_english(provider)
    start(browser, provider, CITIZEN_NID)
    assert answer(browser, provider, WRONG_ANSWER).status_code == 400
    assert answer(browser, provider, WRONG_ANSWER).status_code == 400
    locked = answer(browser, provider, WRONG_ANSWER)
    assert locked.status_code == 403 and "Recovery of this account is locked" in locked.text

    # The right answer now is refused without being looked at, and no code goes out.
    sent_before = [m for m in outbox_messages(provider.app) if m["channel"] == "sms"]
    assert answer(browser, provider, ANSWER).status_code == 403
    assert [m for m in outbox_messages(provider.app) if m["channel"] == "sms"] == sent_before
    outcomes = [e.outcome for e in audit_events(provider.app, "recovery.answer")]
    assert outcomes == ["failed", "failed", "failed", "locked"]
    assert [e.outcome for e in audit_events(provider.app, "recovery.locked")] == ["locked"]
    # Guessing answers cannot keep the owner out: the sign-in is not locked.
    assert submit_password(provider, CITIZEN_NID, PASSWORD).url.endswith("/code")


def test_wrong_passwords_and_wrong_answers_are_counted_apart(provider):
    assert submit_password(provider, CITIZEN_NID, "not the password").status_code == 400
    assert submit_password(provider, CITIZEN_NID, "not the password").status_code == 400
    browser = requests.Session()
    start(browser, provider, CITIZEN_NID)
    assert answer(browser, provider, WRONG_ANSWER).status_code == 400
    assert answer(browser, provider, WRONG_ANSWER).status_code == 400
    assert submit_password(provider, CITIZEN_NID, PASSWORD).url.endswith("/code")


def test_a_right_answer_does_not_reopen_the_password_lockout_but_a_finished_reset_does(provider):
    # Otherwise whoever knows the answer could clear the counter between password guesses.
    assert submit_password(provider, CITIZEN_NID, "not the password").status_code == 400
    assert submit_password(provider, CITIZEN_NID, "not the password").status_code == 400
    browser = requests.Session()
    start(browser, provider, CITIZEN_NID)
    assert answer(browser, provider, ANSWER).url.endswith("/code")
    assert submit_password(provider, CITIZEN_NID, "a third guess").status_code == 403

    # The code proves the phone or e-mail: the reset goes through and opens the account.
    assert submit_code(browser, provider, last_code(provider.app)).url.endswith("/password")
    assert choose_password(browser, provider, NEW_PASSWORD).status_code == 200
    assert submit_password(provider, CITIZEN_NID, NEW_PASSWORD).url.endswith("/code")
    assert [e.detail["by"] for e in audit_events(provider.app, "account.unlocked")] == ["reset"]


def test_unknown_identifier_gets_a_question_page_like_a_known_one_and_locks_the_same(provider):
    known_browser, unknown_browser = browser_in_english(provider), browser_in_english(provider)
    known = start(known_browser, provider, CITIZEN_NID)
    unknown = start(unknown_browser, provider, UNKNOWN_NID)
    assert known.status_code == unknown.status_code == 200
    assert unknown.url.endswith("/recovery/question")

    def structure(page):
        main = page.text.split("<main")[1].replace(csrf_token(page.text), "TOKEN")
        return main.replace(question_of(page), "QUESTION")

    assert structure(known) == structure(unknown)
    # The decoy is a question like the real ones, and the same on every visit.
    decoy = question_of(unknown)
    assert decoy.endswith("?")
    assert question_of(start(browser_in_english(provider), provider, UNKNOWN_NID)) == decoy

    wrong = {}
    for name, browser in (("known", known_browser), ("unknown", unknown_browser)):
        first, second = answer(browser, provider, "x"), answer(browser, provider, "x")
        assert first.status_code == second.status_code == 400
        assert structure(first) == structure(second)
        wrong[name] = first
        locked = answer(browser, provider, "x")
        assert locked.status_code == 403 and "Recovery of this account is locked" in locked.text
        assert answer(browser, provider, "x").status_code == 403
    assert structure(wrong["known"]) == structure(wrong["unknown"])
    outcomes = [(e.account, e.outcome) for e in audit_events(provider.app, "recovery.answer")]
    for account in (CITIZEN_NID, UNKNOWN_NID):
        assert [o for a, o in outcomes if a == account] == ["failed"] * 3 + ["locked"]
    # Only the real owner hears about the lock; nobody got a code.
    assert [m["to"] for m in outbox_messages(provider.app)] == [EMAIL]


def test_the_new_password_must_follow_the_password_policy(provider):
    browser = browser_in_english(provider)
    start(browser, provider, CITIZEN_NID)
    answer(browser, provider, ANSWER)
    submit_code(browser, provider, last_code(provider.app))

    common = choose_password(browser, provider, "password123")
    assert common.status_code == 400
    assert "on lists of common passwords" in common.text
    short = choose_password(browser, provider, "Tirana")
    assert short.status_code == 400 and "Use at least 10 characters" in short.text
    personal = choose_password(browser, provider, "Arta Demo 1990")
    assert personal.status_code == 400 and "Do not use your personal number" in personal.text
    mismatch = choose_password(browser, provider, NEW_PASSWORD, confirm=NEW_PASSWORD + "!")
    assert mismatch.status_code == 400 and "The two passwords are not the same" in mismatch.text

    assert choose_password(browser, provider, NEW_PASSWORD).status_code == 200
    assert submit_password(provider, CITIZEN_NID, NEW_PASSWORD).url.endswith("/code")


def test_five_wrong_codes_end_the_reset(provider):
    browser = browser_in_english(provider)
    start(browser, provider, CITIZEN_NID)
    answer(browser, provider, ANSWER)
    right = last_code(provider.app)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for attempt in range(4):
        assert submit_code(browser, provider, wrong).status_code == 400, attempt
    ended = submit_code(browser, provider, wrong)
    assert ended.status_code == 400 and "Too many wrong codes" in ended.text

    assert submit_code(browser, provider, right).status_code == 400
    assert choose_password(browser, provider, NEW_PASSWORD).status_code == 400
    assert submit_password(provider, CITIZEN_NID, PASSWORD).url.endswith("/code")


def test_no_step_can_be_skipped(provider):
    # No question without an identifier first, no new password without a confirmed code.
    browser = browser_in_english(provider)
    assert browser.get(f"{provider.url}/recovery/question", timeout=TIMEOUT).status_code == 400
    assert browser.get(f"{provider.url}/recovery/password", timeout=TIMEOUT).status_code == 400
    assert choose_password(browser, provider, NEW_PASSWORD).status_code == 400

    start(browser, provider, CITIZEN_NID)
    refused = choose_password(browser, provider, NEW_PASSWORD)
    assert refused.status_code == 400 and "Start again" in refused.text

    answer(browser, provider, ANSWER)  # the code is sent but not entered
    (sent,) = [m for m in outbox_messages(provider.app) if m["channel"] == "sms"]
    assert browser.get(f"{provider.url}/recovery/password", timeout=TIMEOUT).status_code == 400
    assert choose_password(browser, provider, NEW_PASSWORD).status_code == 400

    # The question step belongs to the browser that started it.
    other = browser_in_english(provider)
    start(browser, provider, CITIZEN_NID)
    assert answer(other, provider, ANSWER).status_code == 400
    assert [m for m in outbox_messages(provider.app) if m["channel"] == "sms"] == [sent]

    assert submit_password(provider, CITIZEN_NID, PASSWORD).url.endswith("/code")
    assert audit_events(provider.app, "password.reset") == []


def test_foreign_phone_gets_the_code_by_email_only(provider):
    browser = browser_in_english(provider)
    start(browser, provider, FOREIGN_NID)
    code_page = answer(browser, provider, "tave KOSI")
    assert code_page.url.endswith("/code")
    assert [(m["channel"], m["to"]) for m in outbox_messages(provider.app)] == [
        ("email", FOREIGN_EMAIL)
    ]
    assert submit_code(browser, provider, last_code(provider.app)).url.endswith(
        "/recovery/password"
    )
    assert choose_password(browser, provider, NEW_PASSWORD).status_code == 200
    assert submit_password(provider, FOREIGN_NID, NEW_PASSWORD).url.endswith("/code")


def test_recoveries_from_one_address_beyond_the_limit_get_429_with_retry_after(serve_provider):
    live = serve_provider(RECOVERY_PER_ADDRESS_HOUR=2)
    for identifier in (CITIZEN_NID, UNKNOWN_NID):
        started = start(browser_in_english(live), live, identifier)
        assert started.status_code == 200 and started.url.endswith("/recovery/question")

    refused = start(browser_in_english(live), live, FOREIGN_NID)

    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Too many requests came from your network" in refused.text
