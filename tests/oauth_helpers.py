"""Small helpers that drive the provider like a browser and a relying party would."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from conftest import PASSWORD

REDIRECT_URI = "https://rp.example.org/cb"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def authorize_url(
    client_id: str, scope: str = "openid", challenge: str | None = None, **extra
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    return "/authorize?" + urlencode(params)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def outbox_messages(app) -> list[dict]:
    """Messages the provider wrote to its development outbox, oldest first."""
    path = Path(app.config["OUTBOX"] or Path(app.instance_path) / "outbox.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def last_code(app, to: str | None = None) -> str:
    """The 6-digit code of the newest message (to one address)."""
    for message in reversed(outbox_messages(app)):
        if to is None or message["to"] == to:
            match = re.search(r"\b(\d{6})\b", message["text"])
            if match:
                return match.group(1)
    raise AssertionError("no code in the outbox")


def submit_password(browser, location: str, identifier: str, password: str = PASSWORD):
    """Open the login page at location and submit identifier and password."""
    page = browser.get(location)
    assert page.status_code == 200, page.status_code
    challenge = query(location).get("login_challenge", "")
    return browser.post(
        "/login",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "nid": identifier,
            "password": password,
            "login_challenge": challenge,
        },
    )


def submit_code(browser, code: str):
    page = browser.get("/code")
    return browser.post(
        "/code", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "otp": code}
    )


def login(browser, location: str, identifier: str, password: str = PASSWORD):
    """Both factors: password, then the code from the outbox; returns the response to the
    code (a redirect onwards)."""
    response = submit_password(browser, location, identifier, password)
    if response.status_code != 303:
        return response
    assert response.headers["Location"].endswith("/code"), response.headers["Location"]
    return submit_code(browser, last_code(browser.application))


def consent(browser, location: str, decision: str = "allow"):
    page = browser.get(location)
    assert page.status_code == 200, page.status_code
    return browser.post(
        "/consent",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "decision": decision,
            "consent_challenge": query(location)["consent_challenge"],
        },
    )


def follow_to_code(browser, url: str, identifier: str, decision: str = "allow") -> dict:
    """Authorize, log in and consent as needed; returns the parameters sent to the client."""
    response = browser.get(url)
    for _ in range(6):
        location = response.headers.get("Location", "")
        if location.startswith(REDIRECT_URI):
            return query(location)
        assert response.status_code in (302, 303), (response.status_code, response.get_data()[:500])
        if location.startswith("/login"):
            response = login(browser, location, identifier)
        elif location.startswith("/consent"):
            response = consent(browser, location, decision)
        else:
            response = browser.get(location)
    raise AssertionError("no redirect to the client")


def code_grant(code: str, verifier: str, **extra) -> dict:
    """The token request body that redeems an authorization code."""
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **extra,
    }


def new_sign_in(app) -> tuple[str, str, str, str]:
    """A citizen, a first-party client and one completed login on a fresh browser:
    (client_id, client_secret, code, code_verifier)."""
    from idp.cli import create_client, create_user

    from conftest import CITIZEN_NID, PASSWORD

    with app.app_context():
        create_user(
            kind="citizen",
            identifier=CITIZEN_NID,
            password=PASSWORD,
            email="arta@example.org",
            phone="+355690000001",
        )
        rp, secret = create_client(name="RP", redirect_uris=[REDIRECT_URI], first_party=True)
    verifier, challenge = pkce_pair()
    params = follow_to_code(
        app.test_client(), authorize_url(rp.client_id, challenge=challenge), CITIZEN_NID
    )
    return rp.client_id, secret, params["code"], verifier


def wait_for(condition, seconds: float = 15.0) -> None:
    """Poll condition() until it holds; AssertionError once seconds have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")
