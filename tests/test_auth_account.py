"""The account page over real HTTP: password and contact changes confirmed by codes, recent
sign-ins, sign out everywhere."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from idp.cli import create_client, create_user
from idp.models import AuditEvent, User, db

from conftest import ARTA, CITIZEN_NID, PASSWORD
from oauth_helpers import (
    authorize_url,
    code_grant,
    csrf_token,
    follow_to_code,
    last_code,
    outbox_messages,
    pkce_pair,
)

PHONE = "+355690000001"
EMAIL = "arta@example.org"
NEW_PASSWORD = "lule shqiponje mali i thate"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def provider(live_provider):
    with live_provider.app.app_context():
        create_user(**ARTA)
    return live_provider


def submit_password(provider, browser, password=PASSWORD):
    page = browser.get(f"{provider.url}/login?lang=en")
    return browser.post(
        f"{provider.url}/login",
        data={"csrf_token": csrf_token(page.text), "nid": CITIZEN_NID, "password": password},
    )


def password_accepted(provider, password) -> bool:
    """Whether a fresh browser gets past the password to the code page with this password."""
    return submit_password(provider, requests.Session(), password).url.endswith("/code")


def submit_code(provider, browser, code):
    page = browser.get(f"{provider.url}/code")
    return browser.post(
        f"{provider.url}/code", data={"csrf_token": csrf_token(page.text), "otp": code}
    )


def sign_in(provider, user_agent=None) -> requests.Session:
    browser = requests.Session()
    if user_agent:
        browser.headers["User-Agent"] = user_agent
    assert submit_password(provider, browser).url.endswith("/code")
    done = submit_code(provider, browser, last_code(provider.app, to=PHONE))
    assert done.url.endswith("/account"), done.url
    return browser


def post_form(provider, browser, page_path, action_path, **fields):
    """Open a page and submit the form that posts to action_path, with its CSRF token."""
    page = browser.get(f"{provider.url}{page_path}")
    form = page.text.split(f'action="{action_path}"')[1]
    return browser.post(
        f"{provider.url}{action_path}", data={"csrf_token": csrf_token(form), **fields}
    )


def change_password(provider, browser, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return post_form(
        provider,
        browser,
        "/account/password",
        "/account/password",
        current_password=current,
        password=new,
        password_confirm=new if confirm is None else confirm,
    )


def change_contact(provider, browser, phone="", email=""):
    return post_form(
        provider, browser, "/account/contact", "/account/contact", phone=phone, email=email
    )


def signed_in(provider, browser) -> bool:
    return browser.get(f"{provider.url}/account").url.endswith("/account")


def account(provider) -> User:
    with provider.app.app_context():
        return db.session.execute(select(User).where(User.identifier == CITIZEN_NID)).scalar()


def audit_outcomes(provider, event) -> list[str]:
    with provider.app.app_context():
        return list(
            db.session.execute(select(AuditEvent.outcome).where(AuditEvent.event == event))
            .scalars()
            .all()
        )


def sent_since(provider, count) -> list[tuple[str, str]]:
    return [(m["channel"], m["to"]) for m in outbox_messages(provider.app)[count:]]


def test_account_pages_need_a_signed_in_session(provider):
    browser = requests.Session()
    for path in ("/account", "/account/password", "/account/contact"):
        response = browser.get(f"{provider.url}{path}", allow_redirects=False)
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_password_change_takes_effect_only_with_the_code(provider):
    browser = sign_in(provider)
    other_browser = sign_in(provider)
    sent = len(outbox_messages(provider.app))

    asked = change_password(provider, browser)
    assert asked.url.endswith("/code")
    assert sent_since(provider, sent) == [("sms", PHONE), ("email", EMAIL)]
    code = last_code(provider.app, to=PHONE)
    # Until the code is confirmed nothing has changed.
    assert password_accepted(provider, PASSWORD)
    assert not password_accepted(provider, NEW_PASSWORD)

    done = submit_code(provider, browser, code)
    assert done.url.endswith("/account")
    assert "Your password has been changed" in done.text
    assert signed_in(provider, browser)
    assert not signed_in(provider, other_browser)
    assert password_accepted(provider, NEW_PASSWORD)
    assert not password_accepted(provider, PASSWORD)
    assert audit_outcomes(provider, "password.changed") == ["ok"]
    assert audit_outcomes(provider, "notice.password_changed") == ["ok"]


def test_wrong_current_password_counts_towards_the_lockout(provider):
    browser = sign_in(provider)
    for _ in range(2):
        refused = change_password(provider, browser, current="not my password")
        assert refused.status_code == 400 and "The current password is wrong" in refused.text
    # One more wrong password at the sign-in page would lock the account now: it is one counter.
    locked = change_password(provider, browser, current="not my password")
    assert locked.status_code == 403 and "locked" in locked.text
    assert not signed_in(provider, browser)
    assert submit_password(provider, requests.Session()).status_code == 403
    assert account(provider).password_hash.startswith("$argon2id$")
    assert audit_outcomes(provider, "password.changed") == ["failed"] * 3


def test_new_password_must_pass_the_policy(provider):
    browser = sign_in(provider)
    sent = len(outbox_messages(provider.app))
    for new, problem in [
        ("password123", "common passwords"),
        ("short", "at least 10 characters"),
        (f"{CITIZEN_NID} secret", "personal number"),
    ]:
        refused = change_password(provider, browser, new=new)
        assert refused.status_code == 400 and problem in refused.text
    mismatch = change_password(provider, browser, confirm=NEW_PASSWORD + "!")
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    assert sent_since(provider, sent) == []
    assert password_accepted(provider, PASSWORD)


def test_phone_change_is_confirmed_by_the_old_phone_then_the_new_one(provider):
    browser = sign_in(provider)
    sent = len(outbox_messages(provider.app))

    asked = change_contact(provider, browser, phone="069 000 0002")
    assert asked.url.endswith("/code")
    assert sent_since(provider, sent) == [("sms", PHONE)]
    second_step = submit_code(provider, browser, last_code(provider.app, to=PHONE))
    assert second_step.url.endswith("/code")
    assert sent_since(provider, sent) == [("sms", PHONE), ("sms", "+355690000002")]
    assert account(provider).phone == PHONE  # not before the last code

    done = submit_code(provider, browser, last_code(provider.app, to="+355690000002"))
    assert done.url.endswith("/account")
    user = account(provider)
    assert user.phone == "+355690000002" and user.phone_verified
    assert audit_outcomes(provider, "contact.changed") == ["ok"]
    assert sent_since(provider, sent)[2:] == [("email", EMAIL)]  # the notice


def test_email_change_is_confirmed_by_both_addresses_and_the_old_one_is_told(provider):
    browser = sign_in(provider)
    sent = len(outbox_messages(provider.app))

    change_contact(provider, browser, email="arta.demo@example.net")
    assert sent_since(provider, sent) == [("email", EMAIL)]
    submit_code(provider, browser, last_code(provider.app, to=EMAIL))
    assert sent_since(provider, sent)[1:] == [("email", "arta.demo@example.net")]
    done = submit_code(provider, browser, last_code(provider.app, to="arta.demo@example.net"))

    assert done.url.endswith("/account")
    user = account(provider)
    assert user.email == "arta.demo@example.net" and user.email_verified
    notice = outbox_messages(provider.app)[-1]
    assert notice["to"] == EMAIL and "a***@example.net" in notice["text"]


def test_foreign_new_phone_is_confirmed_by_email_and_stays_unverified(provider):
    browser = sign_in(provider)
    sent = len(outbox_messages(provider.app))

    change_contact(provider, browser, phone="+39 333 000 0004")
    submit_code(provider, browser, last_code(provider.app, to=PHONE))
    assert sent_since(provider, sent) == [("sms", PHONE), ("email", EMAIL)]
    done = submit_code(provider, browser, last_code(provider.app, to=EMAIL))

    assert done.url.endswith("/account") and "not confirmed" in done.text
    user = account(provider)
    assert user.phone == "+393330000004" and not user.phone_verified


def test_contact_form_refuses_bad_and_unchanged_values(provider):
    browser = sign_in(provider)
    for fields, problem in [
        ({"phone": "12"}, "not a valid phone number"),
        ({"email": "arta at example"}, "not a valid e-mail address"),
        ({"phone": "069 000 0001"}, "already your phone number"),
        ({}, "Enter a new phone number"),
    ]:
        refused = change_contact(provider, browser, **fields)
        assert refused.status_code == 400 and problem in refused.text


def test_recent_sign_ins_list_the_address_and_device_newest_first(provider):
    assert not password_accepted(provider, "not my password")
    browser = sign_in(provider, user_agent=FIREFOX)

    page = browser.get(f"{provider.url}/account")
    recent = page.text.split("Recent sign-ins")[1].split("</table>")[0]
    assert recent.index("Signed in") < recent.index("Wrong password")
    assert "127.0.0.1" in recent
    assert "Firefox on Windows" in recent


def test_sign_out_everywhere_ends_every_session_and_revokes_refresh_tokens(provider):
    with provider.app.app_context():
        rp, secret = create_client(
            name="RP", redirect_uris=["https://rp.example.org/cb"], first_party=True
        )
    verifier, challenge = pkce_pair()
    params = follow_to_code(
        provider.app.test_client(), authorize_url(rp.client_id, challenge=challenge), CITIZEN_NID
    )
    tokens = requests.post(
        f"{provider.url}/token",
        data=code_grant(params["code"], verifier),
        auth=(rp.client_id, secret),
    ).json()
    browser = sign_in(provider)
    other_browser = sign_in(provider)

    ended = post_form(provider, browser, "/account", "/account/sessions/end-all")

    assert ended.status_code == 200 and "You have signed out" in ended.text
    assert not signed_in(provider, browser)
    assert not signed_in(provider, other_browser)
    refresh = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp.client_id, secret),
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert audit_outcomes(provider, "sessions.ended") == ["ok"]


def test_sign_out_signs_out_only_this_browser(provider):
    browser = sign_in(provider)
    other_browser = sign_in(provider)
    ended = post_form(provider, browser, "/account", "/account/logout")
    assert "You have signed out" in ended.text
    assert not signed_in(provider, browser)
    assert signed_in(provider, other_browser)


@pytest.mark.parametrize(
    "path",
    [
        "/account/password",
        "/account/contact",
        "/account/sessions/end-all",
        "/account/logout",
        "/account/consents/some-client/revoke",
    ],
)
def test_every_post_without_csrf_token_is_refused(provider, path):
    browser = sign_in(provider)
    refused = browser.post(
        f"{provider.url}{path}",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD, "phone": "0690000002"},
    )
    assert refused.status_code == 400
    assert signed_in(provider, browser)
    assert password_accepted(provider, PASSWORD)
