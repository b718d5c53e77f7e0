"""The e-service portal (clients/portal) against the provider, both on real ports, a requests
session as the browser: the catalogue, search, languages, sign-in on the way to a service,
citizen and business accounts, and back-channel logout."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from clients.common.backchannel import EVENT
from clients.portal import create_app as create_portal
from clients.portal.views import same_site_path
from idp.cli import create_client, create_user

from conftest import ARTA, BUSINESS_NIPT, CITIZEN_NID, PASSWORD, LiveServer, free_port
from oauth_helpers import csrf_token, last_code, query
from test_catalogue import CATEGORIES

AGENCY_URL = "http://agency.test"
MENU_SQ = ["Kryesore", "E-shërbime", "Shërbime informative", "Ndihmë dhe suport"]
MENU_EN = ["Home", "E-services", "Information services", "Help and support"]
# One service of each audience, by id and Albanian name.
CRIMINAL_RECORD = ("13259", "Dëshmia e Penalitetit")  # both
PERSONAL_CERTIFICATE = ("38", "Certifikatë personale")  # citizens
ANNUAL_ACCOUNTS = ("depozitimi-bilancit-vjetor", "Depozitimi i bilancit vjetor")  # businesses


@dataclass
class Portal:
    server: LiveServer
    client_id: str
    provider_app: object  # its development outbox holds the one-time codes
    provider_url: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def portal(live_provider, tmp_path):
    """A citizen and a business, the portal registered as the provider's first-party client
    with a back-channel logout URI, and the portal served."""
    port = free_port()
    portal_url = f"http://127.0.0.1:{port}"
    with live_provider.app.app_context():
        create_user(**ARTA)
        create_user(
            kind="business",
            identifier=BUSINESS_NIPT,
            password=PASSWORD,
            business_name="Demo Shpk",
            email="info@example.org",
        )
        client, secret = create_client(
            name="e-Albania",
            redirect_uris=[f"{portal_url}/callback"],
            post_logout_redirect_uris=[f"{portal_url}/"],
            backchannel_logout_uri=f"{portal_url}/backchannel-logout",
            scopes=["openid", "profile", "email", "phone", "nid", "business"],
            grant_types=["authorization_code", "refresh_token"],
            first_party=True,
        )
        client_id = client.client_id
    app = create_portal(
        {
            "ISSUER": live_provider.url,
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": secret,
            "SECRET_KEY": "portal-test-secret-key",
            "PORTAL_URL": portal_url,
            "AGENCY_URL": AGENCY_URL,
            "PORTAL_STATE_DIR": str(tmp_path / "portal-state"),
        }
    )
    server = LiveServer(app, port).start()
    yield Portal(server, client_id, live_provider.app, live_provider.url)
    server.stop()


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def sign_in(
    browser: requests.Session,
    portal: Portal,
    start: str = "/login",
    identifier: str = CITIZEN_NID,
    account_type: str = "citizen",
) -> requests.Response:
    """Open `start` on the portal, sign in at the provider (password, then the code from the
    outbox) and follow the redirects back to the portal."""
    login_page = browser.get(portal.url + start)
    assert urlsplit(login_page.url).path == "/login", login_page.url
    assert login_page.url.startswith(portal.provider_url)
    code_page = browser.post(
        login_page.url.split("?")[0],
        data={
            "account_type": account_type,
            "nid": identifier,
            "password": PASSWORD,
            "csrf_token": csrf_token(login_page.text),
            "login_challenge": query(login_page.url)["login_challenge"],
        },
    )
    assert urlsplit(code_page.url).path == "/code", code_page.url
    landed = browser.post(
        code_page.url,
        data={"otp": last_code(portal.provider_app), "csrf_token": csrf_token(code_page.text)},
    )
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url.startswith(portal.url), landed.url
    return landed


def menu_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="menu".*?</nav>', html, re.S)
    assert nav, "no menu"
    return re.findall(r'href="([^"]+)"', nav.group(0))


def tile_names(html: str) -> list[str]:
    return re.findall(r'<section class="tile">\s*<h2><a href="[^"]+">([^<]+)</a>', html)


# -- browsing without an account ---------------------------------------------------------


def test_anonymous_visitor_browses_the_ten_categories_in_albanian(browser, portal):
    home = browser.get(portal.url + "/")
    assert home.status_code == 200
    assert '<html lang="sq">' in home.text
    assert tile_names(home.text) == CATEGORIES
    assert home.text.count("Të tjera...") == 10
    assert 'placeholder="kërko shërbimin"' in home.text
    assert ">Hyr<" in home.text
    for word in MENU_SQ:
        assert word in home.text

    # Every tile's "Të tjera..." opens its category, which lists at least the tile's services.
    categories = re.findall(r'<p class="more"><a href="([^"]+)">', home.text)
    assert len(categories) == 10
    for path in categories:
        page = browser.get(urljoin(portal.url, path))
        assert page.status_code == 200, path
        assert page.text.count('class="agency"') >= 1, path


def test_every_menu_entry_is_a_real_page(browser, portal):
    home = browser.get(portal.url + "/")
    links = menu_links(home.text)
    assert len(links) == 4
    titles = []
    for link in links:
        page = browser.get(urljoin(portal.url, link))
        assert page.status_code == 200, link
        titles.append(re.search(r"<h1>([^<]+)</h1>", page.text).group(1))
    assert titles[1:] == MENU_SQ[1:]


def test_english_with_lang_en_is_remembered_for_the_next_pages(browser, portal):
    home = browser.get(portal.url + "/?lang=en")
    assert '<html lang="en">' in home.text
    assert "Documents with an electronic seal" in tile_names(home.text)
    assert len(tile_names(home.text)) == 10
    assert home.text.count("More...") == 10
    for word in MENU_EN:
        assert word in home.text

    services = browser.get(portal.url + "/sherbime")
    assert '<html lang="en">' in services.text
    assert "Judicial Records Certificate" in services.text

    back = browser.get(portal.url + "/?lang=sq")
    assert tile_names(back.text) == CATEGORIES


@pytest.mark.parametrize("typed", ["deshmia", "DESHMIA", "dëshmia"])
def test_search_finds_the_criminal_record_certificate_whatever_the_accents(browser, portal, typed):
    results = browser.get(portal.url + "/kerko", params={"q": typed})
    assert results.status_code == 200
    assert CRIMINAL_RECORD[1] in results.text
    assert f'href="/sherbime/{CRIMINAL_RECORD[0]}"' in results.text


def test_search_for_nothing_known_says_so(browser, portal):
    results = browser.get(portal.url + "/kerko", params={"q": "zzz-nothing"})
    assert "Nuk u gjet asnjë shërbim" in results.text


def test_unknown_service_is_not_found(browser, portal):
    assert browser.get(portal.url + "/sherbime/does-not-exist").status_code == 404
    assert browser.get(portal.url + "/kategori/nope").status_code == 404


# -- opening a service -------------------------------------------------------------------


def test_a_service_asks_an_anonymous_visitor_to_sign_in_and_comes_back_to_it(browser, portal):
    service_path = f"/sherbime/{CRIMINAL_RECORD[0]}"
    first = browser.get(portal.url + service_path, allow_redirects=False)
    assert first.status_code == 302
    assert urlsplit(first.headers["Location"]).path == "/login"
    assert query(first.headers["Location"]) == {"next": service_path}

    service = sign_in(browser, portal, start=service_path)
    assert service.url == portal.url + service_path
    assert CRIMINAL_RECORD[1] in service.text
    # The agency delivers it: a link into its app, which single sign-on lets in at once.
    assert f'href="{AGENCY_URL}/deshmia-e-penalitetit"' in service.text
    assert "Hap shërbimin" in service.text


def test_a_service_without_its_own_site_says_it_opens_on_e_albania(browser, portal):
    sign_in(browser, portal)
    page = browser.get(portal.url + f"/sherbime/{PERSONAL_CERTIFICATE[0]}")
    assert page.status_code == 200
    assert "Ky shërbim hapet në portalin e-Albania" in page.text
    assert "service_code=38" in page.text


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "/login", "sherbime/38"],
)
def test_the_page_after_sign_in_is_only_ever_a_path_here(target):
    assert same_site_path(target) is None


def test_sign_in_started_with_a_foreign_target_lands_on_the_home_page(browser, portal):
    landed = sign_in(browser, portal, start="/login?next=https://evil.example/")
    assert landed.url == portal.url + "/"


# -- citizens and businesses -------------------------------------------------------------


def test_a_citizen_is_greeted_by_name_and_sees_the_citizens_services(browser, portal):
    home = sign_in(browser, portal)
    assert home.url == portal.url + "/"
    assert "Mirë se vini, Arta" in home.text
    assert ">Dil<" in home.text
    assert 'action="/logout"' in home.text
    assert "Regjistro një biznes" in home.text
    assert PERSONAL_CERTIFICATE[1] in home.text
    assert "Familja" in tile_names(home.text)

    everything = browser.get(portal.url + "/sherbime").text
    assert PERSONAL_CERTIFICATE[1] in everything
    assert CRIMINAL_RECORD[1] in everything  # for both
    assert ANNUAL_ACCOUNTS[1] not in everything
    searched = browser.get(portal.url + "/kerko", params={"q": "bilancit"})
    assert "Nuk u gjet asnjë shërbim" in searched.text

    business_only = browser.get(portal.url + f"/sherbime/{ANNUAL_ACCOUNTS[0]}")
    assert business_only.status_code == 403
    assert "vetëm për bizneset" in business_only.text

    english = browser.get(portal.url + "/?lang=en")
    assert "Welcome, Arta" in english.text


def test_a_business_is_greeted_by_its_name_and_sees_the_business_services(browser, portal):
    home = sign_in(browser, portal, identifier=BUSINESS_NIPT, account_type="business")
    assert "Mirë se vini, Demo Shpk" in home.text
    assert "Regjistro një biznes" not in home.text
    tiles = tile_names(home.text)
    assert "Biznesi im" in tiles
    assert "Familja" not in tiles  # nothing there for a business
    assert "Vërtetim për aktivitet ekonomik të hapur" in home.text

    everything = browser.get(portal.url + "/sherbime").text
    assert ANNUAL_ACCOUNTS[1] in everything
    assert CRIMINAL_RECORD[1] in everything  # for both
    assert PERSONAL_CERTIFICATE[1] not in everything
    found = browser.get(portal.url + "/kerko", params={"q": "certifikate personale"})
    assert "Nuk u gjet asnjë shërbim" in found.text

    citizens_only = browser.get(portal.url + f"/sherbime/{PERSONAL_CERTIFICATE[0]}")
    assert citizens_only.status_code == 403
    assert "vetëm për qytetarët" in citizens_only.text
    assert browser.get(portal.url + f"/sherbime/{ANNUAL_ACCOUNTS[0]}").status_code == 200


def test_pages_forbid_framing_and_inline_code(browser, portal):
    home = browser.get(portal.url + "/")
    policy = home.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script" not in home.text and "style=" not in home.text
    assert browser.get(portal.url + "/static/portal.css").status_code == 200


# -- back-channel logout -----------------------------------------------------------------


def logout_claims(portal: Portal, browser: requests.Session) -> dict:
    """Valid logout-token claims for the browser's sign-in (Back-Channel Logout §2.4)."""
    id_token = portal.server.session_of(browser)["id_token_claims"]
    return {
        "iss": portal.provider_url,
        "aud": portal.client_id,
        "iat": int(time.time()),
        "jti": secrets.token_urlsafe(16),
        "sid": id_token["sid"],
        "sub": id_token["sub"],
        "events": {EVENT: {}},
    }


def signed_logout_token(portal: Portal, claims: dict, key=None) -> str:
    """A logout token signed like the provider signs its tokens (or with `key` instead)."""
    signing = portal.provider_app.extensions["idp.keystore"].signing_key("RS256")
    header = {"alg": "RS256", "kid": signing.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, key or signing.jwk)


def deliver(portal: Portal, token: str) -> requests.Response:
    """POST the token to the portal as the provider does, server to server."""
    return requests.post(
        f"{portal.url}/backchannel-logout", data={"logout_token": token}, timeout=10
    )


def test_a_logout_token_from_the_provider_ends_the_portal_session(browser, portal):
    sign_in(browser, portal)
    assert "Mirë se vini, Arta" in browser.get(portal.url + "/").text

    answer = deliver(portal, signed_logout_token(portal, logout_claims(portal, browser)))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"

    home = browser.get(portal.url + "/")
    assert "Mirë se vini" not in home.text
    assert ">Hyr<" in home.text
    assert browser.get(portal.url + "/userinfo.json").status_code == 401
    service = browser.get(portal.url + f"/sherbime/{CRIMINAL_RECORD[0]}", allow_redirects=False)
    assert service.status_code == 302


def _wrong_audience(claims: dict) -> None:
    claims["aud"] = "another-client"


def _wrong_issuer(claims: dict) -> None:
    claims["iss"] = "https://attacker.example"


def _no_event(claims: dict) -> None:
    del claims["events"]


def _with_nonce(claims: dict) -> None:
    claims["nonce"] = "n-0S6_WzA2Mj"


@pytest.mark.parametrize(
    "spoil", [_wrong_audience, _wrong_issuer, _no_event, _with_nonce, None], ids=str
)
def test_an_invalid_logout_token_is_refused_and_the_session_lives_on(browser, portal, spoil):
    sign_in(browser, portal)
    claims = logout_claims(portal, browser)
    if spoil is None:
        # Well-formed claims under the provider's kid, signed with a key that is not its own.
        token = signed_logout_token(portal, claims, key=RSAKey.generate_key(2048))
    else:
        spoil(claims)
        token = signed_logout_token(portal, claims)

    answer = deliver(portal, token)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "Mirë se vini, Arta" in browser.get(portal.url + "/").text


def test_every_app_has_a_favicon(portal, live_provider):
    # Browsers ask each site for /favicon.ico unprompted; the agency's test checks its own.
    for url in (portal.url, live_provider.url):
        response = requests.get(f"{url}/favicon.ico", timeout=10)
        assert response.status_code == 200, url
        assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
