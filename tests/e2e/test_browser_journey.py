"""The citizen's journey in a real browser (Playwright + Debian's chromium), in Albanian and in
English: the portal, sign-in with password and code, the catalogue, the agency's service
without a new login, the sealed document, sign-out at the portal, and the agency's session gone
too (back-channel logout). Screenshots are kept in browser_helpers.ARTIFACTS."""

from __future__ import annotations

import re

import pytest

from clients.agency import create_app as create_agency
from clients.portal import create_app as create_portal
from e2e.browser_helpers import SCREENS, shot
from idp.cli import create_client, create_user

from conftest import ARTA, CITIZEN_NID, PASSWORD, LiveServer, free_port
from oauth_helpers import last_code

CRIMINAL_RECORD = "13259"


@pytest.fixture
def system(live_provider, tmp_path):
    """The provider, the portal and the agency, each on its own port, as `dev.py run` has them."""
    portal_url = f"http://127.0.0.1:{free_port()}"
    agency_url = f"http://127.0.0.1:{free_port()}"
    with live_provider.app.app_context():
        create_user(**ARTA)
        registered = {}
        for name, url, options in (
            (
                "portal",
                portal_url,
                {
                    "first_party": True,
                    "scopes": ["openid", "profile", "email", "phone", "nid", "business"],
                },
            ),
            (
                "agency",
                agency_url,
                {"scopes": ["openid", "profile", "nid"], "resources": [f"{agency_url}/api"]},
            ),
        ):
            client, secret = create_client(
                name=name,
                redirect_uris=[f"{url}/callback"],
                post_logout_redirect_uris=[f"{url}/"],
                backchannel_logout_uri=f"{url}/backchannel-logout",
                **options,
            )
            registered[name] = (client.client_id, secret)
    portal = create_portal(
        {
            "ISSUER": live_provider.url,
            "CLIENT_ID": registered["portal"][0],
            "CLIENT_SECRET": registered["portal"][1],
            "SECRET_KEY": "journey-portal",
            "PORTAL_URL": portal_url,
            "AGENCY_URL": agency_url,
            "PORTAL_STATE_DIR": str(tmp_path / "portal"),
        }
    )
    agency = create_agency(
        {
            "ISSUER": live_provider.url,
            "CLIENT_ID": registered["agency"][0],
            "CLIENT_SECRET": registered["agency"][1],
            "SECRET_KEY": "journey-agency",
            "AGENCY_URL": agency_url,
            "STATE_DIR": str(tmp_path / "agency"),
        }
    )
    servers = [
        LiveServer(portal, int(portal_url.rsplit(":", 1)[1])).start(),
        LiveServer(agency, int(agency_url.rsplit(":", 1)[1])).start(),
    ]
    yield live_provider, portal_url, agency_url
    for server in servers:
        server.stop()


@pytest.mark.parametrize("language,screen", [("sq", "phone"), ("en", "desktop")])
def test_portal_to_agency_and_single_logout(browser, system, language, screen):
    provider, portal_url, agency_url = system
    context = browser.new_context(viewport=SCREENS[screen], locale=language)
    context.set_default_timeout(15_000)
    page = context.new_page()
    name = f"journey-{language}-{screen}"

    page.goto(f"{portal_url}/?lang={language}")
    assert page.locator("html").get_attribute("lang") == language
    shot(page, f"{name}-1-catalogue")

    # Sign in at the provider: password, then the code from the outbox.
    page.goto(f"{portal_url}/login")
    page.wait_for_url(re.compile(r".*/login\?login_challenge=.*"))
    if language == "en":
        page.click("a[hreflang=en]")
    page.fill("input[name=nid]", CITIZEN_NID)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/code$"))
    page.fill("input[name=otp]", last_code(provider.app))
    page.click("form[action='/code'] button[type=submit]")
    page.wait_for_url(re.compile(re.escape(portal_url) + r"/.*"))
    assert "Arta" in page.content()
    shot(page, f"{name}-2-signed-in")

    # The agency's service: from the portal, no password and no code again.
    page.goto(f"{portal_url}/sherbime/{CRIMINAL_RECORD}")
    shot(page, f"{name}-3-service")
    page.click(f"a[href^='{agency_url}']")
    page.wait_for_url(re.compile(r".*/(consent\?.*|deshmia-e-penalitetit.*)"))
    if "/consent" in page.url:
        shot(page, f"{name}-4-consent")
        page.click("button[value=allow]")
    page.wait_for_url(re.compile(re.escape(agency_url) + r"/deshmia-e-penalitetit.*"))
    assert "/login" not in page.url and "/code" not in page.url
    assert CITIZEN_NID in page.content()
    shot(page, f"{name}-5-agency")

    # The sealed document.
    page.click("form button.primary")
    page.wait_for_url(re.compile(re.escape(agency_url) + r"/.*"))
    shot(page, f"{name}-6-issued")
    with page.expect_download() as download:
        page.click("a.button.primary")
    assert download.value.suggested_filename.endswith(".pdf")

    # Sign out at the portal: the provider ends the session and tells the agency.
    page.goto(f"{portal_url}/")
    page.click("form.sign-out button")
    page.wait_for_url(re.compile(re.escape(portal_url) + r"/.*"))
    shot(page, f"{name}-7-signed-out")
    page.wait_for_timeout(500)  # the back-channel call runs right after the response
    page.goto(f"{agency_url}/deshmia-e-penalitetit")
    page.wait_for_url(re.compile(r".*/login.*"))
    assert "login_challenge" in page.url  # at the provider's login page: no session anywhere
    shot(page, f"{name}-8-agency-signed-out")
    context.close()
