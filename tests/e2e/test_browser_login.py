"""A real browser (Playwright driving Debian's chromium) through the whole sign-in: the portal,
the provider's password and code pages, consent, and back, in Albanian and in English, on a
phone-sized and a desktop-sized screen. Screenshots are kept in browser_helpers.ARTIFACTS."""

from __future__ import annotations

import re

import pytest

from clients.portal import create_app as create_portal
from e2e.browser_helpers import SCREENS, shot
from idp.cli import create_client, create_user

from conftest import ARTA, CITIZEN_NID, PASSWORD, LiveServer, free_port
from oauth_helpers import last_code


@pytest.fixture
def portal(live_provider, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with live_provider.app.app_context():
        create_user(**ARTA)
        client, secret = create_client(
            name="Portali e-Albania",
            redirect_uris=[f"{url}/callback"],
            post_logout_redirect_uris=[f"{url}/"],
            scopes=["openid", "profile", "email", "phone", "nid", "business"],
        )
        client_id = client.client_id
    app = create_portal(
        {
            "ISSUER": live_provider.url,
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": secret,
            "SECRET_KEY": "portal-browser-test",
            "PORTAL_URL": url,
            "PORTAL_STATE_DIR": str(tmp_path),  # never into the checkout
        }
    )
    server = LiveServer(app, port).start()
    yield server
    server.stop()


# What each page must say, in each language (e-Albania's own words in Albanian).
TEXTS = {
    "sq": {"login": "Identifikimi në llogarinë personale", "code": "Kodi skadon në"},
    "en": {"login": "Sign in to your personal account", "code": "The code expires in"},
}


@pytest.mark.parametrize("language,screen", [("sq", "phone"), ("en", "desktop")])
def test_sign_in_through_the_portal_in_a_real_browser(
    browser, live_provider, portal, language, screen
):
    context = browser.new_context(viewport=SCREENS[screen], locale=language)
    page = context.new_page()
    page.goto(f"{portal.url}/login")
    page.wait_for_url(re.compile(r".*/login\?login_challenge=.*"))
    if language == "en":
        page.click("a[hreflang=en]")
    assert page.locator("html").get_attribute("lang") == language
    assert TEXTS[language]["login"] in page.content()
    shot(page, f"{language}-{screen}-1-password")

    page.fill("input[name=nid]", CITIZEN_NID)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/code$"))
    assert TEXTS[language]["code"] in page.content()
    countdown = page.locator("[data-countdown-value]")
    first = int(countdown.inner_text())
    page.wait_for_timeout(1100)  # the countdown is live
    assert int(countdown.inner_text()) < first
    shot(page, f"{language}-{screen}-2-code")

    page.fill("input[name=otp]", last_code(live_provider.app))
    page.click("form[action='/code'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/consent\?.*"))
    assert page.locator("html").get_attribute("lang") == language
    shot(page, f"{language}-{screen}-3-consent")

    page.click("button[value=allow]")
    page.wait_for_url(re.compile(re.escape(portal.url) + r"/$"))
    assert "Arta" in page.content()
    shot(page, f"{language}-{screen}-4-signed-in")
    context.close()
