"""The portal (clients/portal) against the provider, both on real ports, a requests session as
the browser: sign-in with consent, ID token validation, refresh rotation, logout and SSO."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from clients.portal import create_app as create_portal
from idp.cli import create_client, create_user

from conftest import ARTA, CITIZEN_NID, PASSWORD, LiveServer, free_port
from oauth_helpers import csrf_token, last_code, pkce_pair, query

# Direct calls to the provider (as a relying party's back end would make them).
TIMEOUT = 10
PORTAL_SCOPES = ["openid", "profile", "email", "phone", "nid", "business"]


@dataclass
class Portal:
    server: LiveServer
    client_id: str
    client_secret: str
    provider_app: object  # the provider's app: its development outbox holds the codes

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def portal(live_provider, tmp_path):
    """A citizen, the portal registered as a third-party client, and the portal served."""
    port = free_port()
    portal_url = f"http://127.0.0.1:{port}"
    with live_provider.app.app_context():
        create_user(**ARTA)
        client, secret = create_client(
            name="Portali",
            redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"],
            scopes=PORTAL_SCOPES,
            grant_types=["authorization_code", "refresh_token"],
            first_party=False,  # so that the consent page is part of the journey
        )
        client_id = client.client_id
    app = create_portal(
        {
            "ISSUER": live_provider.url,
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": secret,
            "SECRET_KEY": "portal-test-secret-key",
            "PORTAL_URL": portal_url,
            "PORTAL_STATE_DIR": str(tmp_path / "portal-state"),
        }
    )
    server = LiveServer(app, port).start()
    yield Portal(server, client_id, secret, live_provider.app)
    server.stop()


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def submit_login(
    browser: requests.Session, page: requests.Response, portal: Portal
) -> requests.Response:
    """Fill in the provider's login page that `page` shows, then the one-time code from the
    outbox, and follow where it leads."""
    assert urlsplit(page.url).path == "/login", page.url
    code_page = browser.post(
        page.url.split("?")[0],
        data={
            "nid": CITIZEN_NID,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text),
            "login_challenge": query(page.url)["login_challenge"],
        },
    )
    assert urlsplit(code_page.url).path == "/code", code_page.url
    return browser.post(
        code_page.url,
        data={"otp": last_code(portal.provider_app), "csrf_token": csrf_token(code_page.text)},
    )


def submit_consent(
    browser: requests.Session, page: requests.Response, decision: str = "allow"
) -> requests.Response:
    assert urlsplit(page.url).path == "/consent", page.url
    return browser.post(
        page.url.split("?")[0],
        data={
            "decision": decision,
            "csrf_token": csrf_token(page.text),
            "consent_challenge": query(page.url)["consent_challenge"],
        },
    )


def sign_in(browser: requests.Session, portal: Portal) -> requests.Response:
    """The whole journey: portal, provider login, consent, back to the portal's greeting."""
    login_page = browser.get(f"{portal.url}/login")
    assert login_page.status_code == 200, login_page.text
    consent_page = submit_login(browser, login_page, portal)
    assert consent_page.status_code == 200, consent_page.text
    return submit_consent(browser, consent_page)


def userinfo_status(provider_url: str, access_token: str) -> int:
    response = requests.get(
        f"{provider_url}/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )
    return response.status_code


def provider_keys(provider_url: str) -> KeySet:
    return KeySet.import_key_set(requests.get(f"{provider_url}/jwks.json", timeout=TIMEOUT).json())


@pytest.fixture
def signed_in(browser, portal):
    home = sign_in(browser, portal)
    assert home.url == f"{portal.url}/", home.url
    return home


def test_sign_in_validates_the_id_token_and_greets_by_name(
    browser, portal, live_provider, signed_in
):
    assert signed_in.status_code == 200
    assert "Mirë se vini, Arta" in signed_in.text
    # The journey went through the provider's login and consent and back to the callback.
    visited = [urlsplit(r.url).path for r in signed_in.history]
    assert "/callback" in visited

    session = portal.server.session_of(browser)
    claims = session["id_token_claims"]
    assert claims["iss"] == live_provider.url
    assert claims["aud"] == portal.client_id
    assert claims["nonce"]
    assert session["userinfo"]["given_name"] == "Arta"
    assert session["userinfo"]["nid"] == CITIZEN_NID
    assert session["userinfo"]["sub"] == claims["sub"] != CITIZEN_NID

    info = browser.get(f"{portal.url}/userinfo.json")
    assert info.status_code == 200
    assert info.json()["given_name"] == "Arta"
    assert info.json()["nid"] == CITIZEN_NID


def test_refresh_rotates_the_refresh_token_and_the_old_one_is_refused(
    browser, portal, live_provider, signed_in
):
    before = portal.server.session_of(browser)["token"]

    refreshed = browser.post(f"{portal.url}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json() == {"refreshed": True}
    after = portal.server.session_of(browser)["token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert browser.get(f"{portal.url}/userinfo.json").json()["nid"] == CITIZEN_NID

    replay = requests.post(
        f"{live_provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]},
        auth=(portal.client_id, portal.client_secret),
        timeout=TIMEOUT,
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # RFC 9700 §4.14.2: reuse of a spent refresh token ends the whole family.
    assert userinfo_status(live_provider.url, after["access_token"]) == 401
    assert browser.post(f"{portal.url}/refresh").status_code == 401


def test_logout_ends_the_sso_session_and_the_tokens_of_the_sign_in(
    browser, portal, live_provider, signed_in
):
    tokens = portal.server.session_of(browser)["token"]
    assert "idp_sso" in browser.cookies

    to_provider = browser.post(f"{portal.url}/logout", allow_redirects=False)
    assert to_provider.status_code == 302
    location = to_provider.headers["Location"]
    assert location.startswith(f"{live_provider.url}/logout?")
    logout_request = query(location)
    assert logout_request["id_token_hint"]
    assert logout_request["post_logout_redirect_uri"] == f"{portal.url}/"
    assert logout_request["state"]

    back = browser.get(location, allow_redirects=False)
    assert back.status_code == 302, back.text
    assert back.headers["Location"] == f"{portal.url}/?state={logout_request['state']}"
    assert "idp_sso" not in browser.cookies

    home = browser.get(back.headers["Location"])
    assert "Dolët nga llogaria" in home.text  # the portal recognised its own state
    assert "Mirë se vini" not in home.text
    assert browser.get(f"{portal.url}/userinfo.json").status_code == 401

    # Logout revoked what this sign-in obtained.
    assert userinfo_status(live_provider.url, tokens["access_token"]) == 401

    # A new sign-in asks for the password again instead of returning a code at once.
    again = browser.get(f"{portal.url}/login")
    assert again.status_code == 200
    assert urlsplit(again.url).path == "/login"
    assert 'name="password"' in again.text


def test_refused_consent_shows_a_readable_page(browser, portal):
    login_page = browser.get(f"{portal.url}/login")
    consent_page = submit_login(browser, login_page, portal)
    refused = submit_consent(browser, consent_page, decision="deny")
    assert refused.status_code == 400
    assert urlsplit(refused.url).path == "/callback"
    assert query(refused.url)["error"] == "access_denied"
    assert "Nuk lejuat ndarjen e të dhënave" in refused.text
    assert "Traceback" not in refused.text


def test_callback_with_a_forged_state_is_refused(browser, portal, live_provider):
    browser.get(f"{portal.url}/login", allow_redirects=False)
    forged = browser.get(
        f"{portal.url}/callback",
        params={"code": "x", "state": "not-ours", "iss": live_provider.url},
    )
    assert forged.status_code == 400
    assert "mismatching_state" in forged.text


def test_callback_naming_another_issuer_is_refused(browser, portal):
    """RFC 9207: a response that says it comes from another provider is not redeemed."""
    browser.get(f"{portal.url}/login", allow_redirects=False)
    mixed_up = browser.get(
        f"{portal.url}/callback",
        params={"code": "x", "state": "any", "iss": "https://attacker.example"},
    )
    assert mixed_up.status_code == 400
    assert "invalid_response" in mixed_up.text


def test_another_client_gets_a_code_without_login_while_the_sso_session_lives(
    browser, portal, live_provider, signed_in
):
    agency_redirect = f"http://127.0.0.1:{free_port()}/cb"
    with live_provider.app.app_context():
        agency, agency_secret = create_client(
            name="Agjencia",
            redirect_uris=[agency_redirect],
            scopes=["openid", "profile"],
            # First party: no consent page, so only single sign-on decides the outcome.
            first_party=True,
        )
        agency_id = agency.client_id

    portal_sid = portal.server.session_of(browser)["id_token_claims"]["sid"]
    for prompt in (None, "none"):
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": agency_id,
            "redirect_uri": agency_redirect,
            "scope": "openid profile",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        response = browser.get(
            f"{live_provider.url}/authorize?{urlencode(params)}", allow_redirects=False
        )
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(agency_redirect + "?"), location
        answer = query(location)
        assert answer["state"] == params["state"]
        assert answer["iss"] == live_provider.url

        token = requests.post(
            f"{live_provider.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": agency_redirect,
                "code_verifier": verifier,
            },
            auth=(agency_id, agency_secret),
            timeout=TIMEOUT,
        )
        assert token.status_code == 200, token.text
        id_token = jwt.decode(token.json()["id_token"], provider_keys(live_provider.url))
        # The same single sign-on session as the portal's sign-in (OIDC `sid`).
        assert id_token.claims["sid"] == portal_sid
        info = requests.get(
            f"{live_provider.url}/userinfo",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=TIMEOUT,
        )
        assert info.json()["given_name"] == "Arta"

    # Both clients' tokens come from the one sign-in: logging out of the portal ends it.
    browser.post(f"{portal.url}/logout")
    params["state"] = secrets.token_urlsafe(8)
    silent = browser.get(
        f"{live_provider.url}/authorize?{urlencode(params)}", allow_redirects=False
    )
    assert query(silent.headers["Location"])["error"] == "login_required"
