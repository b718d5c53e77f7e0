"""A pending authorization request belongs to one browser and one person (issue 12), over real
HTTP with requests sessions as browsers: the consent one person gave is never used for another."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from sqlalchemy import select, update

from idp.cli import create_client, create_user
from idp.models import Consent, User, db

from conftest import ARTA, CITIZEN_NID, PASSWORD
from oauth_helpers import (
    REDIRECT_URI,
    authorize_url,
    code_grant,
    csrf_token,
    last_code,
    pkce_pair,
    query,
)

TIMEOUT = 10
SCOPES = "openid profile nid"
ARTA_PHONE = ARTA["phone"]
BESA_NID = "J00101998O"
BESA_PHONE = "+355690000009"


@dataclass
class Agency:
    """A third-party client (its consent screen is part of every sign-in)."""

    client_id: str
    secret: str


@pytest.fixture
def provider(serve_provider):
    server = serve_provider(OTP_RESEND_COOLDOWN=0)
    with server.app.app_context():
        create_user(**ARTA)
        create_user(
            kind="citizen",
            identifier=BESA_NID,
            password=PASSWORD,
            given_name="Besa",
            family_name="Demo",
            email="besa@example.org",
            phone=BESA_PHONE,
        )
    return server


@pytest.fixture
def agency(provider) -> Agency:
    with provider.app.app_context():
        client, secret = create_client(
            name="Agency service",
            redirect_uris=[REDIRECT_URI],
            scopes=SCOPES.split(),
            first_party=False,
        )
        return Agency(client.client_id, secret)


class Browser:
    """One person's browser: its own cookies. It follows the provider's redirects and stops
    at the one to the client (which is not served here)."""

    def __init__(self, provider):
        self.provider = provider
        self.http = requests.Session()

    def open(self, path: str, data: dict | None = None) -> requests.Response:
        url = urljoin(self.provider.url, path)
        method = "POST" if data is not None else "GET"
        response = self.http.request(method, url, data=data, allow_redirects=False, timeout=TIMEOUT)
        for _ in range(10):
            location = response.headers.get("Location", "")
            if not response.is_redirect or location.startswith(REDIRECT_URI):
                return response
            url = urljoin(url, location)
            response = self.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        raise AssertionError("too many redirects")


def path_of(response: requests.Response) -> str:
    return urlsplit(response.url).path


def answer_to_client(response: requests.Response) -> dict[str, str]:
    """The parameters of the redirect to the client (a code or an error)."""
    location = response.headers.get("Location", "")
    assert response.is_redirect and location.startswith(REDIRECT_URI), (
        response.status_code,
        response.url,
    )
    return query(location)


def sign_in(browser: Browser, login_page: requests.Response, nid: str, phone: str):
    """Password on the login page shown, then the code sent to phone; where it leads."""
    assert path_of(login_page) == "/login" and login_page.status_code == 200, login_page.url
    code_page = browser.open(
        "/login",
        {
            "csrf_token": csrf_token(login_page.text),
            "nid": nid,
            "password": PASSWORD,
            "login_challenge": query(login_page.url).get("login_challenge", ""),
        },
    )
    assert path_of(code_page) == "/code", code_page.url
    otp = last_code(browser.provider.app, to=phone)
    return browser.open("/code", {"csrf_token": csrf_token(code_page.text), "otp": otp})


def consent_form(consent_page: requests.Response, decision: str = "allow") -> dict:
    assert path_of(consent_page) == "/consent" and consent_page.status_code == 200, consent_page.url
    return {
        "csrf_token": csrf_token(consent_page.text),
        "decision": decision,
        "consent_challenge": query(consent_page.url)["consent_challenge"],
    }


def assert_asks_consent(page: requests.Response) -> None:
    """The person is shown the consent screen, not sent back to the client with a code."""
    assert not page.is_redirect, f"answered the client unasked: {page.headers['Location']}"
    assert path_of(page) == "/consent" and page.status_code == 200, page.url


def nid_released_by(provider, agency: Agency, code: str, verifier: str) -> str:
    """Redeem the code as the client does and read whose national number it releases."""
    token = requests.post(
        f"{provider.url}/token",
        data=code_grant(code, verifier),
        auth=(agency.client_id, agency.secret),
        timeout=TIMEOUT,
    )
    assert token.status_code == 200, token.text
    info = requests.get(
        f"{provider.url}/userinfo",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=TIMEOUT,
    )
    return info.json()["nid"]


def consent_of(provider, nid: str, agency: Agency) -> Consent | None:
    with provider.app.app_context():
        return db.session.execute(
            select(Consent)
            .join(User, User.id == Consent.user_id)
            .where(User.identifier == nid, Consent.client_id == agency.client_id)
        ).scalar()


def relying_party_consents_in_its_own_browser(provider, agency: Agency, challenge: str) -> str:
    """The attack of issue 12: the relying party opens a request in its own browser, signs in
    with an account of its own (Arta's), consents, and keeps the continuation URL instead of
    following it. Returns that URL's challenge."""
    attacker = Browser(provider)
    start = attacker.open(authorize_url(agency.client_id, SCOPES, challenge))
    consent_page = sign_in(attacker, start, CITIZEN_NID, ARTA_PHONE)
    kept = attacker.http.post(
        f"{provider.url}/consent", data=consent_form(consent_page), allow_redirects=False
    )
    assert kept.is_redirect and "/authorize/continue" in kept.headers["Location"]
    return query(kept.headers["Location"])["challenge"]


@pytest.mark.parametrize(
    "link",
    [
        "/authorize/continue?challenge={}",
        "/login?login_challenge={}",
        "/consent?consent_challenge={}",
    ],
)
def test_consent_given_in_the_relying_partys_browser_is_never_used_for_the_citizen(
    provider, agency, link
):
    verifier, pkce = pkce_pair()
    challenge = relying_party_consents_in_its_own_browser(provider, agency, pkce)
    # Besa opens the link in her browser, with no session at all.
    citizen = Browser(provider)
    login_page = citizen.open(link.format(challenge))
    assert path_of(login_page) == "/login"
    after_login = sign_in(citizen, login_page, BESA_NID, BESA_PHONE)
    # Her own consent screen, not a code carrying her NID, name and birth date.
    assert_asks_consent(after_login)
    assert consent_of(provider, BESA_NID, agency) is None
    code = answer_to_client(citizen.open("/consent", consent_form(after_login)))["code"]
    assert nid_released_by(provider, agency, code, verifier) == BESA_NID


def test_a_signed_in_citizen_opening_the_link_is_asked_for_her_own_consent_and_may_refuse(
    provider, agency
):
    _, pkce = pkce_pair()
    citizen = Browser(provider)
    assert path_of(sign_in(citizen, citizen.open("/login"), BESA_NID, BESA_PHONE)) == "/account"
    challenge = relying_party_consents_in_its_own_browser(provider, agency, pkce)
    consent_page = citizen.open(f"/authorize/continue?challenge={challenge}")
    assert_asks_consent(consent_page)
    refused = answer_to_client(citizen.open("/consent", consent_form(consent_page, "deny")))
    assert refused["error"] == "access_denied" and "code" not in refused
    assert consent_of(provider, BESA_NID, agency) is None


def test_the_relying_partys_own_request_still_answers_only_for_its_own_person(provider, agency):
    verifier, pkce = pkce_pair()
    attacker = Browser(provider)
    start = attacker.open(authorize_url(agency.client_id, SCOPES, pkce))
    consent_page = sign_in(attacker, start, CITIZEN_NID, ARTA_PHONE)
    # Someone else opening the link elsewhere neither ends nor changes this browser's request.
    elsewhere = Browser(provider).open(
        f"/consent?consent_challenge={query(consent_page.url)['consent_challenge']}"
    )
    assert path_of(elsewhere) == "/login"
    code = answer_to_client(attacker.open("/consent", consent_form(consent_page)))["code"]
    assert nid_released_by(provider, agency, code, verifier) == CITIZEN_NID


def test_when_another_person_signs_in_between_steps_they_get_their_own_consent_screen(
    provider, agency
):
    verifier, pkce = pkce_pair()
    browser = Browser(provider)
    artas_page = sign_in(
        browser,
        browser.open(authorize_url(agency.client_id, SCOPES, pkce)),
        CITIZEN_NID,
        ARTA_PHONE,
    )
    assert path_of(artas_page) == "/consent"
    # Besa signs in on the same computer, in another tab, while Arta's consent page is open.
    assert path_of(sign_in(browser, browser.open("/login"), BESA_NID, BESA_PHONE)) == "/account"
    # "Allow" on the page shown to Arta is not Besa's consent: she gets her own screen.
    besas_page = browser.open("/consent", consent_form(artas_page))
    assert_asks_consent(besas_page)
    assert consent_of(provider, BESA_NID, agency) is None
    assert consent_of(provider, CITIZEN_NID, agency) is None
    code = answer_to_client(browser.open("/consent", consent_form(besas_page)))["code"]
    assert nid_released_by(provider, agency, code, verifier) == BESA_NID


# -- the ordinary journeys still work -----------------------------------------------------------


def test_sign_in_consent_and_code_then_remembered_consent_skips_the_screen(provider, agency):
    verifier, pkce = pkce_pair()
    browser = Browser(provider)
    start = browser.open(authorize_url(agency.client_id, SCOPES, pkce))
    consent_page = sign_in(browser, start, CITIZEN_NID, ARTA_PHONE)
    code = answer_to_client(browser.open("/consent", consent_form(consent_page)))["code"]
    assert nid_released_by(provider, agency, code, verifier) == CITIZEN_NID
    assert consent_of(provider, CITIZEN_NID, agency).scopes == sorted(SCOPES.split())
    verifier, pkce = pkce_pair()
    again = browser.open(authorize_url(agency.client_id, SCOPES, pkce))
    code = answer_to_client(again)["code"]
    assert nid_released_by(provider, agency, code, verifier) == CITIZEN_NID


def test_prompt_consent_asks_once_for_the_request_even_when_consent_is_remembered(provider, agency):
    browser = Browser(provider)
    _, pkce = pkce_pair()
    start = browser.open(authorize_url(agency.client_id, SCOPES, pkce))
    consent_page = sign_in(browser, start, CITIZEN_NID, ARTA_PHONE)
    answer_to_client(browser.open("/consent", consent_form(consent_page)))
    with provider.app.app_context():
        # That consent was given an hour ago.
        db.session.execute(update(Consent).values(granted_at=Consent.granted_at - 3600))
        db.session.commit()
    verifier, pkce = pkce_pair()
    asked = browser.open(authorize_url(agency.client_id, SCOPES, pkce, prompt="consent"))
    assert_asks_consent(asked)
    code = answer_to_client(browser.open("/consent", consent_form(asked)))["code"]
    assert nid_released_by(provider, agency, code, verifier) == CITIZEN_NID


def test_an_unknown_continuation_shows_the_expired_page(provider):
    for link in ("/authorize/continue?challenge=nope", "/login?login_challenge=nope"):
        response = Browser(provider).open(link)
        assert response.status_code == 400 and path_of(response) == urlsplit(link).path


def test_the_browser_cookie_is_set_at_authorize_http_only_and_same_site_lax(provider, agency):
    _, pkce = pkce_pair()
    browser = requests.Session()
    response = browser.get(
        provider.url + authorize_url(agency.client_id, SCOPES, pkce),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert "/login" in response.headers["Location"]
    header = next(
        value for value in response.raw.headers.getlist("Set-Cookie") if "idp_browser=" in value
    )
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Max-Age" not in header and "Expires" not in header
