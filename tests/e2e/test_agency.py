"""The agency service (clients/agency) against the provider, both on real ports, a requests
session as the browser: sign-in with data minimisation, single sign-on, the sealed certificate,
the API's token checks and back-channel logout."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from clients.agency import create_app as create_agency
from idp.cli import create_client, create_user

from conftest import ARTA, CITIZEN_NID, PASSWORD, LiveServer, free_port
from oauth_helpers import csrf_token, last_code, outbox_messages, pkce_pair, query

TIMEOUT = 10
SERVICE = "/deshmia-e-penalitetit"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Agency:
    server: LiveServer
    client_id: str
    provider: LiveServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api(self) -> str:
        return f"{self.url}/api/certificates"

    @property
    def seal_certificate(self) -> Path:
        return Path(self.server.app.config["STATE_DIR"]) / "agency-seal-cert.pem"


@pytest.fixture
def agency(live_provider, tmp_path):
    """A citizen, the agency registered as its own third-party client, and the agency served."""
    port = free_port()
    agency_url = f"http://127.0.0.1:{port}"
    with live_provider.app.app_context():
        create_user(**ARTA, birthdate="1990-01-01")
        client, secret = create_client(
            name="Drejtoria e Përgjithshme e Burgjeve",
            redirect_uris=[f"{agency_url}/callback"],
            post_logout_redirect_uris=[f"{agency_url}/"],
            backchannel_logout_uri=f"{agency_url}/backchannel-logout",
            scopes=["openid", "profile", "nid"],
            resources=[f"{agency_url}/api"],
            first_party=False,  # its consent page shows what it asks for
        )
        client_id = client.client_id
    app = create_agency(
        {
            "ISSUER": live_provider.url,
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": secret,
            "SECRET_KEY": "agency-test-secret-key",
            "AGENCY_URL": agency_url,
            "STATE_DIR": str(tmp_path / "agency"),
        }
    )
    server = LiveServer(app, port).start()
    yield Agency(server, client_id, live_provider)
    server.stop()


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def submit_login(browser: requests.Session, page: requests.Response, agency: Agency, **kwargs):
    """Fill in the provider's login page that `page` shows, then the one-time code."""
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
        data={"otp": last_code(agency.provider.app), "csrf_token": csrf_token(code_page.text)},
        **kwargs,
    )


def submit_consent(browser: requests.Session, page: requests.Response, decision: str = "allow"):
    assert urlsplit(page.url).path == "/consent", page.url
    return browser.post(
        page.url.split("?")[0],
        data={
            "decision": decision,
            "csrf_token": csrf_token(page.text),
            "consent_challenge": query(page.url)["consent_challenge"],
        },
    )


def sign_in(browser: requests.Session, agency: Agency) -> requests.Response:
    """From the service page: provider login, consent, back to the service page."""
    login_page = browser.get(f"{agency.url}{SERVICE}")
    consent_page = submit_login(browser, login_page, agency)
    service_page = submit_consent(browser, consent_page)
    assert service_page.url == f"{agency.url}{SERVICE}", service_page.url
    return service_page


def confirm(browser: requests.Session, agency: Agency, page: requests.Response, **form):
    data = {"purpose": "employment", "csrf_token": csrf_token(page.text), **form}
    return browser.post(f"{agency.url}{SERVICE}", data=data)


def validate_seal(pdf: bytes, certificate: Path):
    """pyHanko's verdict on the document's one signature, with the seal certificate trusted."""
    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(certificate))])
    return validate_pdf_signature(signature, context)


def page_text(pdf: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0]
    contents = page["/Contents"]
    streams = contents if isinstance(contents, list) else [contents]
    return b"".join(stream.data for stream in streams)


def api_call(agency: Agency, token: str | None, **body) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        agency.api, json={"purpose": "studies", **body}, headers=headers, timeout=TIMEOUT
    )


def client_credentials_token(provider: LiveServer, resources: list[str]) -> str:
    with provider.app.app_context():
        machine, secret = create_client(
            name="Another agency's back end",
            grant_types=["client_credentials"],
            scopes=["openid"],
            resources=resources,
        )
        machine_id = machine.client_id
    data = {"grant_type": "client_credentials"}
    if resources:
        data["resource"] = resources[0]
    response = requests.post(
        f"{provider.url}/token", data=data, auth=(machine_id, secret), timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def signed_in(browser, agency):
    return sign_in(browser, agency)


def test_citizen_signs_in_consents_to_name_and_nid_only_and_gets_a_sealed_certificate(
    browser, agency, live_provider
):
    to_provider = browser.get(f"{agency.url}{SERVICE}", allow_redirects=False)
    assert to_provider.headers["Location"] == f"/login?next={SERVICE}"
    authorize = browser.get(f"{agency.url}/login", allow_redirects=False).headers["Location"]
    request = query(authorize)
    assert authorize.startswith(f"{live_provider.url}/authorize?")
    assert request["scope"] == "openid profile nid"
    assert request["resource"] == f"{agency.url}/api"
    assert request["code_challenge_method"] == "S256"

    login_page = browser.get(f"{agency.url}{SERVICE}")
    consent_page = submit_login(browser, login_page, agency)
    # Data minimisation: the sign-in itself, name and birth date, the NID, nothing else.
    scopes = consent_page.text.split('<ul class="scopes">')[1].split("</ul>")[0]
    assert scopes.count("<li>") == 3, scopes
    assert "Emri, mbiemri dhe datëlindja juaj" in scopes
    assert "Numri juaj personal i identifikimit (NID)" in scopes

    service_page = submit_consent(browser, consent_page)
    assert service_page.url == f"{agency.url}{SERVICE}"
    assert "Arta Demo" in service_page.text
    assert CITIZEN_NID in service_page.text
    assert "Për punësim" in service_page.text
    assert service_page.headers["Content-Security-Policy"].startswith(
        "default-src 'self'; frame-ancestors 'none'"
    )
    assert service_page.headers["X-Frame-Options"] == "DENY"
    assert "/callback" in [urlsplit(r.url).path for r in service_page.history]
    claims = agency.server.session_of(browser)["id_token_claims"]
    assert claims["aud"] == agency.client_id and claims["iss"] == live_provider.url

    # The form's own CSRF token is required.
    forged = browser.post(f"{agency.url}{SERVICE}", data={"purpose": "employment"})
    assert forged.status_code == 400
    assert "documents" not in agency.server.session_of(browser)

    issued = confirm(browser, agency, service_page)
    assert issued.status_code == 200, issued.text
    assert "Dëshmia u lëshua" in issued.text
    download_path = next(
        part.split('"')[1] for part in issued.text.split("href=") if "/dokumentet/" in part
    )
    document = browser.get(f"{agency.url}{download_path}")
    assert document.status_code == 200
    assert document.headers["Content-Type"] == "application/pdf"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert document.headers["Content-Disposition"] == (
        f'attachment; filename="deshmia-e-penalitetit-{today}.pdf"'
    )
    assert document.headers["Cache-Control"] == "no-store"

    pdf = document.content
    status = validate_seal(pdf, agency.seal_certificate)
    assert status.bottom_line, status.pretty_print_details()
    assert status.coverage.name == "ENTIRE_FILE"
    assert "Vula elektronike (demo)" in status.signing_cert.subject.human_friendly
    text = page_text(pdf)
    assert b"Arta Demo" in text
    assert CITIZEN_NID.encode() in text

    # One changed byte in the signed content and the seal no longer holds.
    tampered = bytearray(pdf)
    tampered[pdf.index(b"stream") + 40] ^= 0x01
    assert not validate_seal(bytes(tampered), agency.seal_certificate).bottom_line

    # Kept for the session: listed and downloadable again, in English too.
    home = browser.get(f"{agency.url}/?lang=en")
    assert "Documents of this session" in home.text
    assert download_path in home.text
    assert browser.get(f"{agency.url}{download_path}").content == pdf
    # Nobody else's browser gets it.
    assert requests.get(f"{agency.url}{download_path}", timeout=TIMEOUT).status_code == 404


def test_person_signed_in_at_the_provider_reaches_the_service_without_password_or_code(
    browser, agency, live_provider
):
    # A first sign-in at the provider through a first-party client (as the portal is).
    portal_redirect = f"http://127.0.0.1:{free_port()}/callback"
    with live_provider.app.app_context():
        portal, _ = create_client(
            name="e-Albania", redirect_uris=[portal_redirect], first_party=True
        )
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": portal.client_id,
        "redirect_uri": portal_redirect,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    login_page = browser.get(f"{live_provider.url}/authorize?{urlencode(params)}")
    response = submit_login(browser, login_page, agency, allow_redirects=False)
    while not response.headers["Location"].startswith(portal_redirect):
        next_url = urljoin(live_provider.url, response.headers["Location"])
        response = browser.get(next_url, allow_redirects=False)
    assert "code" in query(response.headers["Location"])
    messages = len(outbox_messages(live_provider.app))

    # Then the agency: the provider asks only for consent to this new client's data.
    consent_page = browser.get(f"{agency.url}{SERVICE}")
    visited = [urlsplit(r.url).path for r in consent_page.history]
    assert urlsplit(consent_page.url).path == "/consent"
    assert "/login" in visited and "/authorize" in visited  # the agency's /login, then ours
    assert 'name="password"' not in consent_page.text
    service_page = submit_consent(browser, consent_page)
    assert "Arta Demo" in service_page.text
    assert len(outbox_messages(live_provider.app)) == messages  # no code was sent

    # A later visit (a new agency session) passes straight through: consent is remembered.
    browser.cookies.clear(domain="127.0.0.1", path="/", name="agency_session")
    again = browser.get(f"{agency.url}{SERVICE}?lang=en")
    assert again.url == f"{agency.url}{SERVICE}"
    assert "/consent" not in [urlsplit(r.url).path for r in again.history]
    assert "Confirm and get the certificate" in again.text


def test_api_refuses_requests_without_a_valid_token_for_it(browser, agency, live_provider):
    missing = api_call(agency, None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="agency"'

    garbage = api_call(agency, "not-a-token")
    assert garbage.status_code == 401
    assert 'error="invalid_token"' in garbage.headers["WWW-Authenticate"]
    assert garbage.json()["error"] == "invalid_token"

    sign_in(browser, agency)
    session = agency.server.session_of(browser)
    id_token = api_call(agency, session["id_token"])
    assert id_token.status_code == 401
    assert 'error="invalid_token"' in id_token.headers["WWW-Authenticate"]

    # A valid access token of ours, but addressed to another client's back end.
    other_audience = api_call(agency, client_credentials_token(live_provider, []))
    assert other_audience.status_code == 401
    assert 'error="invalid_token"' in other_audience.headers["WWW-Authenticate"]

    # Addressed to this API, but without the nid scope.
    without_nid = api_call(agency, client_credentials_token(live_provider, [f"{agency.url}/api"]))
    assert without_nid.status_code == 403
    challenge = without_nid.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="nid"' in challenge

    # The person's own token: the identity comes from it, not from what the caller sends.
    issued = api_call(agency, session["token"]["access_token"], nid="J00101999X")
    assert issued.status_code == 201, issued.text
    assert issued.json()["person"]["nid"] == CITIZEN_NID
    assert issued.json()["person"]["birthdate"] == "1990-01-01"
    assert issued.json()["convictions"] == []
    assert issued.headers["Cache-Control"] == "no-store"


def test_backchannel_logout_ends_the_agency_session(browser, agency, live_provider, signed_in):
    sid = agency.server.session_of(browser)["id_token_claims"]["sid"]
    with live_provider.app.app_context():
        key = live_provider.app.extensions["idp.keystore"].signing_key("RS256")
    now = int(time.time())
    logout_token = jwt.encode(
        {"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"},
        {
            "iss": live_provider.url,
            "aud": agency.client_id,
            "iat": now,
            "jti": secrets.token_urlsafe(12),
            "sid": sid,
            "events": {BACKCHANNEL_EVENT: {}},
        },
        key.jwk,
        algorithms=["RS256"],
    )
    delivered = requests.post(
        f"{agency.url}/backchannel-logout", data={"logout_token": logout_token}, timeout=TIMEOUT
    )
    assert delivered.status_code == 200, delivered.text

    after = browser.get(f"{agency.url}{SERVICE}", allow_redirects=False)
    assert after.status_code == 302
    assert after.headers["Location"] == f"/login?next={SERVICE}"
    assert "Mirë se vini" not in browser.get(f"{agency.url}/").text


def test_sign_out_ends_the_provider_session_too(browser, agency, live_provider, signed_in):
    without_token = browser.post(f"{agency.url}/logout")
    assert without_token.status_code == 400

    to_provider = browser.post(
        f"{agency.url}/logout",
        data={"csrf_token": csrf_token(signed_in.text)},
        allow_redirects=False,
    )
    location = to_provider.headers["Location"]
    assert location.startswith(f"{live_provider.url}/logout?")
    assert query(location)["post_logout_redirect_uri"] == f"{agency.url}/"
    home = browser.get(location)
    assert home.url.startswith(f"{agency.url}/?state=")
    assert "Dolët nga llogaria" in home.text
    assert "idp_sso" not in browser.cookies
    assert urlsplit(browser.get(f"{agency.url}{SERVICE}").url).path == "/login"


def test_refused_consent_shows_a_readable_page(browser, agency):
    login_page = browser.get(f"{agency.url}{SERVICE}")
    refused = submit_consent(browser, submit_login(browser, login_page, agency), "deny")
    assert refused.status_code == 400
    assert "Nuk lejuat ndarjen e të dhënave" in refused.text
    assert "Traceback" not in refused.text


def test_the_agency_has_a_favicon(agency):
    response = requests.get(f"{agency.url}/favicon.ico", timeout=TIMEOUT)
    assert response.status_code == 200 and response.content[:4] == b"\x00\x00\x01\x00"
